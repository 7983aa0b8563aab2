// Dev-only differential oracle: node oracle.js MODE < records.jsonl ; MODE = 20t | 20f | 26
const mode = process.argv[2];
const base = mode === '26' ? '/tmp/oracle26/node_modules/' : '/tmp/oracle20/node_modules/';
const legacy = mode === '20t' ? true : mode === '20f' ? false : undefined;
const zh = require(base + 'zigbee-herdsman/dist/zspec/zcl');
const zhc = require(base + 'zigbee-herdsman-converters' + (mode === '26' ? '/dist' : ''));
try { (mode === '26' ? require(base+'zigbee-herdsman-converters/dist/lib/logger') : require(base+'zigbee-herdsman-converters/lib/logger')).setLogger({debug(){},info(){},warning(){},error(){}}); } catch (e) {}
try { require(base+'zigbee-herdsman/dist/utils/logger').setLogger({debug(){},info(){},warning(){},error(){}}); } catch (e) {}
const conv = require(base + 'zigbee-herdsman/dist/controller/helpers/zclFrameConverter');
const readline = require('readline');
const defs = {};
async function getDef(model) {
  if (defs[model]) return defs[model];
  const device = {modelID: model, manufacturerName: 'LUMI', type: 'EndDevice', endpoints: [], getEndpoint() { return undefined; }, customClusters: {}, ieeeAddr: '0x00158d0001020304'};
  const d = await zhc.findByDevice(device);
  defs[model] = d; return d;
}
function ser(v) {
  return JSON.stringify(v, (k, x) => typeof x === 'bigint' ? x.toString() : x);
}
function sortKeys(o) { const r = {}; for (const k of Object.keys(o).sort()) r[k] = o[k]; return r; }
async function decode(rec) {
  const buf = Buffer.from(rec.frame.replace(/ /g, ''), 'hex');
  const header = zh.Header.fromBuffer(buf);
  let frame;
  try { frame = zh.Frame.fromBuffer(rec.cluster, header, buf, {}); } catch (e) { return {error: true}; }
  let type, data = {};
  const deviceManuf = 0x115f;
  if (frame.header.isGlobal) {
    switch (frame.command.name) {
      case 'report': type = 'attributeReport'; data = conv.attributeKeyValue(frame, deviceManuf, {}); break;
      case 'read': type = 'read'; data = conv.attributeList(frame, deviceManuf, {}); break;
      case 'write': type = 'write'; data = conv.attributeKeyValue(frame, deviceManuf, {}); break;
      case 'readRsp': type = 'readResponse'; data = conv.attributeKeyValue(frame, deviceManuf, {}); break;
    }
  } else if (frame.header.isSpecific) {
    const n = frame.command.name; type = `command${n.charAt(0).toUpperCase()}${n.slice(1)}`; data = frame.payload;
  }
  if (!(type && data)) return null;
  const def = await getDef(rec.model);
  if (!def) return null;
  const clusterName = frame.cluster.name;
  const convs = def.fromZigbee.filter(c => (Array.isArray(c.type) ? c.type.includes(type) : c.type === type) && c.cluster === clusterName);
  const payload = {};
  const options = {friendly_name: 'x', ID: '0x00158d0001020304'};
  if (legacy !== undefined) options.legacy = legacy;
  const msg = {type, data, cluster: clusterName, device: {ieeeAddr: '0x00158d0001020304', modelID: rec.model, manufacturerName: 'LUMI', getEndpoint(){return undefined;}, endpoints: []}, endpoint: {ID: rec.endpoint, getDevice(){return msg.device;}}, linkquality: rec.lqi, meta: {zclTransactionSequenceNumber: frame.header.transactionSequenceNumber, manufacturerCode: frame.header.manufacturerCode, frameControl: frame.header.frameControl}};
  for (const c of convs) {
    try {
      const r = await c.convert(def, msg, () => {}, options, {state: {}, device: msg.device, logger: {debug(){},info(){},warning(){},error(){}}});
      if (r) Object.assign(payload, r);
    } catch (e) { /* contributes nothing */ }
  }
  let n = 0; for (const k in payload) n++;
  if (n === 0) return null;
  if (mode === '26') zhc.postProcessConvertedFromZigbeeMessage(def, payload, options, msg.device); else zhc.postProcessConvertedFromZigbeeMessage(def, payload, options);
  payload.linkquality = rec.lqi;
  return JSON.parse(ser(sortKeys(payload)));
}
(async () => {
  const rl = readline.createInterface({input: process.stdin});
  const out = [];
  for await (const line of rl) {
    if (!line.trim()) continue;
    let rec; try { rec = JSON.parse(line); } catch { out.push(ser({error: true})); continue; }
    let r; try { r = await decode(rec); } catch (e) { r = {oracle_crash: String(e)}; }
    out.push(ser({input: rec, expected: r}));
  }
  process.stdout.write(out.join('\n') + '\n');
})();
