// Dev-only differential oracle for the household's seven models (Zigbee2MQTT 2.x: converters 26.112.0,
// zigbee-herdsman 10.9.5; compat 2, cache_state false, one report at a time).
//   ORACLE_MODULES=/path/to/node_modules node oracle.js < records.jsonl > vectors.jsonl
// Each input line is a raw report record; each output line is {"input", "expected"} as in the public
// vectors (expected: the payload Zigbee2MQTT publishes, keys sorted, linkquality added, or null).
const base = (process.env.ORACLE_MODULES || __dirname + '/node_modules').replace(/\/?$/, '/');
const zh = require(base + 'zigbee-herdsman/dist/zspec/zcl');
const zhc = require(base + 'zigbee-herdsman-converters/dist');
const quiet = {debug() {}, info() {}, warning() {}, error() {}};
try { require(base + 'zigbee-herdsman-converters/dist/lib/logger').setLogger(quiet); } catch (e) { /* older layout */ }
try { require(base + 'zigbee-herdsman/dist/utils/logger').setLogger(quiet); } catch (e) { /* older layout */ }
const conv = require(base + 'zigbee-herdsman/dist/controller/helpers/zclFrameConverter');
const readline = require('readline');

// Zigbee manufacturer codes of the two vendors (zigbee-herdsman's device.manufacturerID).
const MANUFACTURER_ID = {'LUMI': 0x115f, 'IKEA of Sweden': 0x117c};
const defs = {};
async function getDef(model, manufacturer) {
  const key = model + '\0' + manufacturer;
  if (key in defs) return defs[key];
  const device = {modelID: model, manufacturerName: manufacturer, type: 'EndDevice', endpoints: [],
    getEndpoint() { return undefined; }, customClusters: {}, ieeeAddr: '0x00158d0001020304'};
  defs[key] = (await zhc.findByDevice(device)) || null;
  return defs[key];
}
function ser(v) { return JSON.stringify(v, (k, x) => typeof x === 'bigint' ? x.toString() : x); }
function sortKeys(o) { const r = {}; for (const k of Object.keys(o).sort()) r[k] = o[k]; return r; }
let serial = 0;
async function decode(rec) {
  const buf = Buffer.from(rec.frame.replace(/ /g, ''), 'hex');
  const manufacturer = rec.manufacturer || 'LUMI';
  const deviceManuf = MANUFACTURER_ID[manufacturer];
  let frame;
  try {
    const header = zh.Header.fromBuffer(buf);
    frame = zh.Frame.fromBuffer(rec.cluster, header, buf, {});
  } catch (e) { return null; }
  let type, data = {};
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
  const def = await getDef(rec.model, manufacturer);
  if (!def) return null;
  const clusterName = frame.cluster.name;
  const convs = def.fromZigbee.filter(c => (Array.isArray(c.type) ? c.type.includes(type) : c.type === type) && c.cluster === clusterName);
  const payload = {};
  const options = {friendly_name: 'x', ID: rec.ieee};
  // A device per report (its own address), so per-device stores (a button's seen sequence numbers)
  // never carry one report into the next: the reports are decoded one at a time.
  const ieee = '0x' + (++serial).toString(16).padStart(16, '0');
  const device = {ieeeAddr: ieee, modelID: rec.model, manufacturerName: manufacturer, manufacturerID: deviceManuf,
    getEndpoint() { return undefined; }, endpoints: []};
  const msg = {type, data, cluster: clusterName, device,
    endpoint: {ID: rec.endpoint, deviceIeeeAddress: ieee, getDevice() { return device; }, getClusterAttributeValue() { return undefined; }},
    linkquality: rec.lqi,
    meta: {zclTransactionSequenceNumber: frame.header.transactionSequenceNumber, manufacturerCode: frame.header.manufacturerCode, frameControl: frame.header.frameControl}};
  for (const c of convs) {
    try {
      const r = await c.convert(def, msg, () => {}, options, {state: {}, device, logger: quiet});
      if (r) Object.assign(payload, r);
    } catch (e) { /* a throwing converter contributes nothing */ }
  }
  if (Object.keys(payload).length === 0) return null;
  zhc.postProcessConvertedFromZigbeeMessage(def, payload, options, device);
  payload.linkquality = rec.lqi;
  return JSON.parse(ser(sortKeys(payload)));
}
(async () => {
  const rl = readline.createInterface({input: process.stdin});
  const out = [];
  for await (const line of rl) {
    if (!line.trim()) continue;
    const rec = JSON.parse(line);
    let r; try { r = await decode(rec); } catch (e) { r = {oracle_crash: String(e)}; }
    out.push(ser({input: rec, expected: r}));
  }
  process.stdout.write(out.join('\n') + '\n');
})();
