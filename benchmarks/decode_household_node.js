// Node side of benchmarks/decode_household.py: the same reports through zigbee-herdsman 10.9.5 +
// zigbee-herdsman-converters 26.112.0, decoded as Zigbee2MQTT 2.x's receive path does (parse the
// frame, name the attributes, run the definition's converters, post-process, add linkquality).
//
//   ZIGBEE_ORACLE_MODULES=/path/to/node_modules node decode_household_node.js reports.json [loops]
//
// reports.json: {"<set>/<zigbee model>": [report, ...], ...}. The worker finds each definition,
// runs one untimed warm-up pass per key (V8's JIT compiles the hot functions: a live Zigbee2MQTT
// is warm), prints "ready", then answers each key read on stdin with one pass over its reports:
// a line "<CPU seconds> <payloads published>" (process.cpuUsage: the machine may be shared), the
// reports decoded `loops` times (default 1), the payloads counted once. The
// Python side decides the order, so the two sides' passes alternate in time.
const base = (process.env.ZIGBEE_ORACLE_MODULES || '').replace(/\/?$/, '/');
const zh = require(base + 'zigbee-herdsman/dist/zspec/zcl');
const zhc = require(base + 'zigbee-herdsman-converters/dist');
const quiet = {debug() {}, info() {}, warning() {}, error() {}};
require(base + 'zigbee-herdsman-converters/dist/lib/logger').setLogger(quiet);
require(base + 'zigbee-herdsman/dist/utils/logger').setLogger(quiet);
const conv = require(base + 'zigbee-herdsman/dist/controller/helpers/zclFrameConverter');
const MANUFACTURER_ID = {'LUMI': 0x115f, 'IKEA of Sweden': 0x117c};
let serial = 0;

// One pass over one key's reports: CPU seconds and how many reports published a payload.
async function pass(def, reports, loops) {
  const manufacturer = reports[0].manufacturer;
  const model = reports[0].model;
  const deviceManuf = MANUFACTURER_ID[manufacturer];
  let published = 0;
  const start = process.cpuUsage();
  for (let loop = 0; loop < loops; loop++) {
  published = 0;
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
  }
  const used = process.cpuUsage(start);
  return [(used.user + used.system) / 1e6, published];
}

async function main() {
  const sets = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
  const loops = Number(process.argv[3] || 1);
  const definitions = {};
  for (const [key, reports] of Object.entries(sets)) {
    definitions[key] = await zhc.findByDevice({modelID: reports[0].model, manufacturerName: reports[0].manufacturer,
      type: 'EndDevice', endpoints: [], getEndpoint() { return undefined; }, customClusters: {}});
    await pass(definitions[key], reports, 1); // warm-up (JIT)
  }
  process.stdout.write('ready\n');
  const lines = require('readline').createInterface({input: process.stdin});
  for await (const key of lines) {
    const [seconds, published] = await pass(definitions[key], sets[key], loops);
    process.stdout.write(`${seconds} ${published}\n`);
  }
}
main();
