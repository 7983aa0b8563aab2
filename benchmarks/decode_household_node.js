// Node side of benchmarks/decode_household.py: the same reports through zigbee-herdsman 10.9.5 +
// zigbee-herdsman-converters 26.112.0, decoded as Zigbee2MQTT 2.x's receive path does (parse the
// frame, name the attributes, run the definition's converters, post-process, add linkquality).
//   ZIGBEE_ORACLE_MODULES=/path/to/node_modules node decode_household_node.js < reports.jsonl
// CPU seconds (process.cpuUsage: the machine may be shared), best of BENCH_REPEAT passes (default 3) after one warm-up pass. Prints one JSON line: {"<zigbee model>": {"reports": n, "seconds": s, "published": p}, ...}.
const base = (process.env.ZIGBEE_ORACLE_MODULES || '').replace(/\/?$/, '/');
const zh = require(base + 'zigbee-herdsman/dist/zspec/zcl');
const zhc = require(base + 'zigbee-herdsman-converters/dist');
const quiet = {debug() {}, info() {}, warning() {}, error() {}};
require(base + 'zigbee-herdsman-converters/dist/lib/logger').setLogger(quiet);
require(base + 'zigbee-herdsman/dist/utils/logger').setLogger(quiet);
const conv = require(base + 'zigbee-herdsman/dist/controller/helpers/zclFrameConverter');
const MANUFACTURER_ID = {'LUMI': 0x115f, 'IKEA of Sweden': 0x117c};
const repeat = Number(process.env.BENCH_REPEAT || 3);

async function main() {
  const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.trim());
  const byModel = {};
  for (const line of lines) { const r = JSON.parse(line); (byModel[r.model] = byModel[r.model] || []).push(r); }
  const out = {};
  let serial = 0;
  for (const [model, reports] of Object.entries(byModel)) {
    const manufacturer = reports[0].manufacturer;
    const def = await zhc.findByDevice({modelID: model, manufacturerName: manufacturer, type: 'EndDevice', endpoints: [],
      getEndpoint() { return undefined; }, customClusters: {}});
    const deviceManuf = MANUFACTURER_ID[manufacturer];
    let published = 0;
    const run = async () => {
      const start = process.cpuUsage();
      for (const rec of reports) {
        const buf = Buffer.from(rec.frame, 'hex');
        let frame;
        try { frame = zh.Frame.fromBuffer(rec.cluster, zh.Header.fromBuffer(buf), buf, {}); } catch (e) { continue; }
        let type, data;
        if (frame.header.isGlobal) {
          const n = frame.command.name;
          if (n === 'report') { type = 'attributeReport'; data = conv.attributeKeyValue(frame, deviceManuf, {}); }
          else if (n === 'readRsp') { type = 'readResponse'; data = conv.attributeKeyValue(frame, deviceManuf, {}); }
          else continue;
        } else { const n = frame.command.name; type = `command${n.charAt(0).toUpperCase()}${n.slice(1)}`; data = frame.payload; }
        const ieee = '0x' + (++serial).toString(16).padStart(16, '0');
        const device = {ieeeAddr: ieee, modelID: model, manufacturerName: manufacturer, getEndpoint() { return undefined; }, endpoints: []};
        const msg = {type, data, cluster: frame.cluster.name, device, linkquality: rec.lqi,
          endpoint: {ID: rec.endpoint, getDevice() { return device; }, getClusterAttributeValue() { return undefined; }},
          meta: {zclTransactionSequenceNumber: frame.header.transactionSequenceNumber}};
        const payload = {};
        const options = {};
        for (const c of def.fromZigbee) {
          if (c.cluster !== msg.cluster || !(Array.isArray(c.type) ? c.type.includes(type) : c.type === type)) continue;
          try { const r = await c.convert(def, msg, () => {}, options, {state: {}, device, logger: quiet}); if (r) Object.assign(payload, r); } catch (e) { /* nothing */ }
        }
        if (Object.keys(payload).length === 0) continue;
        zhc.postProcessConvertedFromZigbeeMessage(def, payload, options, device);
        payload.linkquality = rec.lqi;
        published++;
      }
      const used = process.cpuUsage(start);
      return (used.user + used.system) / 1e6;
    };
    await run(); // warm-up (JIT)
    let seconds = Infinity;
    for (let i = 0; i < repeat; i++) { published = 0; seconds = Math.min(seconds, await run()); }
    out[model] = {reports: reports.length, seconds, published};
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
main();
