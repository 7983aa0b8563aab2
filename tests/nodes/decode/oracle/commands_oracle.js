// Dev-only oracle for commands (issue 11): the ZCL frames Zigbee2MQTT 2.14.1 sends for a /set or /get of
// hall_light (LED1545G12) and kitchen_plug (ZNCZ02LM), and the state it publishes afterwards.
//   ORACLE_MODULES=/path/to/node_modules node commands_oracle.js > tests/data/commands/z2m_commands.jsonl
// zigbee-herdsman-converters 26.112.0 + zigbee-herdsman 10.9.5 run the definition's toZigbee converters
// against a real zigbee-herdsman Endpoint whose sendRequest is replaced by a recorder: every frame is the
// one zigbee-herdsman would hand to the adapter (its bytes, sequence number aside). The loop around the
// converters is Zigbee2MQTT 2.x's publish extension (lib/extension/publish.ts) transcribed: message
// parsing, the Home Assistant state skip, state/brightness ordering, one use per converter, optimistic
// state merged with the cache. Each case starts from a fresh device (fresh converter store).
const base = (process.env.ORACLE_MODULES || __dirname + '/node_modules').replace(/\/?$/, '/');
const zhc = require(base + 'zigbee-herdsman-converters/dist');
const quiet = {debug() {}, info() {}, warning() {}, error() {}};
require(base + 'zigbee-herdsman-converters/dist/lib/logger').setLogger(quiet);
require(base + 'zigbee-herdsman/dist/utils/logger').setLogger(quiet);
const Zcl = require(base + 'zigbee-herdsman/dist/zspec/zcl');
const Endpoint = require(base + 'zigbee-herdsman/dist/controller/model/endpoint').default;

const DEVICES = {
  LED1545G12: {modelID: 'TRADFRI bulb E27 WS opal 980lm', manufacturerName: 'IKEA of Sweden', manufacturerID: 0x117c,
    inputs: [0, 3, 4, 5, 6, 8, 0x0300, 0x0b05, 0x1000], endpoint: 1},
  ZNCZ02LM: {modelID: 'lumi.plug', manufacturerName: 'LUMI', manufacturerID: 0x115f,
    inputs: [0, 4, 3, 6, 0x10, 5, 0x0a, 1, 2], endpoint: 1},
};
// What the emulated devices answer to reads (cluster name -> attribute id -> [data type, value]).
const ATTRIBUTES = {
  genOnOff: {0: [0x10, 1]},
  genLevelCtrl: {0: [0x20, 120], 0x11: [0x20, 255]},
  lightingColorCtrl: {7: [0x21, 300], 8: [0x30, 2]},
  genAnalogInput: {0x55: [0x39, 12.5]},
  manuSpecificLumi: {0xfff0: [0x41, [0xaa, 0x10, 0x05, 0x41, 0x47, 0x01, 0x01, 0x10, 0x01]]},
};
const STATE_VALUES = ['on', 'off', 'toggle', 'open', 'close', 'stop', 'lock', 'unlock'];

function hex(buffer) { return Buffer.from(buffer).toString('hex'); }

async function runCase(c, serial) {
  const spec = DEVICES[c.model];
  const ieee = '0x' + serial.toString(16).padStart(16, '0');
  const frames = [];
  const ep = new Endpoint(spec.endpoint, 260, 0x0100, spec.inputs, [], 0x1234, ieee,
    {lightingColorCtrl: {attributes: {colorTempPhysicalMin: 250, colorTempPhysicalMax: 454}}}, [], [], {});
  const device = {ieeeAddr: ieee, modelID: spec.modelID, manufacturerName: spec.manufacturerName,
    manufacturerID: spec.manufacturerID, customClusters: {}, pendingRequestTimeout: 0, endpoints: [ep],
    getEndpoint(id) { return id === spec.endpoint ? ep : undefined; }, save() {}};
  ep.getDevice = () => device;
  ep.save = () => {};
  ep.sendRequest = async (frame, options) => {
    const buffer = frame.toBuffer();
    const header = frame.header;
    const headerLength = header.manufacturerCode === undefined ? 3 : 5;
    frames.push({cluster: frame.cluster.ID, command: header.commandIdentifier, global: header.isGlobal,
      manufacturer_code: header.manufacturerCode ?? null, frame_control: buffer[0],
      payload: hex(buffer.subarray(headerLength)), name: `${frame.cluster.name}.${frame.command.name}`});
    if (c.fail) throw new Error(c.fail);
    if (header.isGlobal && frame.command.name === 'read') {
      const known = ATTRIBUTES[frame.cluster.name] || {};
      const records = frame.payload.map(({attrId}) => attrId in known
        ? {attrId, status: 0, dataType: known[attrId][0], attrData: known[attrId][1]} : {attrId, status: 0x86});
      const rsp = Zcl.Frame.create(Zcl.FrameType.GLOBAL, Zcl.Direction.SERVER_TO_CLIENT, true,
        header.manufacturerCode, header.transactionSequenceNumber, 'readRsp', frame.cluster.ID, records, {});
      const data = rsp.toBuffer();
      return {clusterID: frame.cluster.ID, header: Zcl.Header.fromBuffer(data), data};
    }
    return undefined;
  };
  const definition = await zhc.findByDevice(device);
  const errors = [];
  // publish.ts: parseMessage
  let message;
  if (c.attribute) {
    try { message = {[c.attribute]: JSON.parse(c.raw)}; } catch { message = {[c.attribute]: c.raw}; }
  } else {
    try { message = JSON.parse(c.raw); } catch {
      message = STATE_VALUES.includes(c.raw.toLowerCase()) ? {state: c.raw} : undefined;
    }
  }
  if (message === undefined || message === null || typeof message !== 'object') {
    errors.push(`Invalid message '${message}', skipping...`);
    return {frames, published: null, errors};
  }
  const entityState = JSON.parse(JSON.stringify(c.state));
  if (c.homeassistant) {
    const hasColorTemp = message.color_temp !== undefined, hasColor = message.color !== undefined;
    const hasBrightness = message.brightness !== undefined;
    if (entityState.state === 'ON' && (hasColorTemp || hasColor) && !hasBrightness) delete message.state;
  }
  const entries = Object.entries(message);
  const sorter = typeof message.state === 'string' && message.state.toLowerCase() === 'off' ? 1 : -1;
  entries.sort((a) => (['state', 'brightness', 'brightness_percent'].includes(a[0]) ? sorter : sorter * -1));
  const used = [];
  let toPublish = {};
  const options = {...Object.fromEntries(definition.options.map((o) => [o.name, undefined])), ...c.options};
  for (const o of Object.keys(options)) if (options[o] === undefined) delete options[o];
  for (const [key, value] of entries) {
    const converter = definition.toZigbee.find((t) => (!t.key || t.key.includes(key)) && !t.endpoints);
    if (c.type === 'set' && used.includes(converter)) continue;
    if (!converter) { errors.push(`No converter available for '${key}' on '${c.name}': (${JSON.stringify(message[key])})`); continue; }
    const meta = {endpoint_name: undefined, options: {...options, friendly_name: c.name}, message: {...message},
      device, state: entityState, membersState: undefined, mapped: definition, publish() {}};
    try {
      if (c.type === 'set' && converter.convertSet) {
        const result = await converter.convertSet(ep, key, value, meta);
        if (result && result.state) toPublish = {...toPublish, ...result.state};
      } else if (c.type === 'get' && converter.convertGet) {
        await converter.convertGet(ep, key, meta);
      } else {
        errors.push(`No converter available for '${c.type}' '${key}' (${message[key]})`);
        continue;
      }
    } catch (error) {
      errors.push(`Publish '${c.type}' '${key}' to '${c.name}' failed: '${error}'`);
    }
    used.push(converter);
  }
  const published = Object.keys(toPublish).length ? {...c.state, ...toPublish} : null;
  return {frames, published, errors};
}

const LIGHT_STATES = [
  {},
  {state: 'ON', brightness: 100, color_temp: 300, color_mode: 'color_temp', color: {x: 0.4366, y: 0.4042}},
  {state: 'OFF', brightness: 50, color_temp: 400, color_mode: 'color_temp'},
];
const LIGHT_SETS = [
  '{"state":"ON"}', '{"state":"OFF"}', '{"state":"TOGGLE"}', '{"state":"on"}', '{"state":"toggle"}', 'ON', 'off',
  'TOGGLE', '{"state":"ON","brightness":200}', '{"state":"OFF","brightness":200}', '{"brightness":0}',
  '{"brightness":1}', '{"brightness":100}', '{"brightness":254}', '{"brightness":255}', '{"brightness":"77"}',
  '{"brightness_percent":0}', '{"brightness_percent":30}', '{"brightness_percent":50}', '{"brightness_percent":100}',
  '{"state":"ON","brightness_percent":30}', '{"state":"OFF","transition":2}', '{"state":"ON","transition":1.5}',
  '{"brightness":120,"transition":3}', '{"state":"ON","brightness":80,"transition":0}', '{"color_temp":250}',
  '{"color_temp":300}', '{"color_temp":454}', '{"color_temp":200}', '{"color_temp":500}', '{"color_temp":"333"}',
  '{"color_temp":"coolest"}', '{"color_temp":"cool"}', '{"color_temp":"neutral"}', '{"color_temp":"warm"}',
  '{"color_temp":"warmest"}', '{"color_temp":300,"transition":1}', '{"brightness":150,"color_temp":370,"transition":2}',
  '{"state":"ON","color_temp":300}', '{"state":"OFF","color_temp":300}', '{"brightness_step":10}',
  '{"brightness_step":-10}', '{"brightness_step":300}', '{"brightness_step":-300}', '{"brightness_step":20,"transition":1}',
  '{"color_temp_step":20}', '{"color_temp_step":-20}', '{"color_temp_step":5,"transition":0.5}', '{"transition":2}',
  // Bad input: Zigbee2MQTT's own errors.
  '{"state":"BLAH"}', '{"brightness":300}', '{"brightness":-1}', '{"brightness":"abc"}', '{"color_temp":"bogus"}',
  '{"brightness_step":"x"}', '{"foo":1}', 'not json', '[1,2]', '{"state":"ON","foo":2}',
];
const LIGHT_GETS = ['{"state":""}', '{"brightness":""}', '{"color_temp":""}', '{"state":"","brightness":""}', '{"foo":""}'];
const PLUG_STATES = [{}, {state: 'ON', power: 10, energy: 1.5}, {state: 'OFF', power_outage_memory: true}];
const PLUG_SETS = ['{"state":"ON"}', '{"state":"OFF"}', '{"state":"TOGGLE"}', 'on', '{"power_outage_memory":true}',
  '{"power_outage_memory":false}', '{"state":"ON","power_outage_memory":true}', '{"state":"OFF","on_time":5}',
  '{"state":"BLAH"}', '{"power":5}', '{"energy":3}', '{"brightness":100}'];
const PLUG_GETS = ['{"state":""}', '{"power":""}', '{"power_outage_memory":""}', '{"energy":""}'];

function* cases() {
  for (const state of LIGHT_STATES) {
    for (const raw of LIGHT_SETS) {
      yield {model: 'LED1545G12', name: 'hall_light', type: 'set', raw, state, options: {}, homeassistant: false};
      yield {model: 'LED1545G12', name: 'hall_light', type: 'set', raw, state, options: {}, homeassistant: true};
    }
    for (const raw of LIGHT_GETS) yield {model: 'LED1545G12', name: 'hall_light', type: 'get', raw, state, options: {}};
    yield {model: 'LED1545G12', name: 'hall_light', type: 'set', raw: '{"state":"ON"}', state, options: {transition: 2}};
    yield {model: 'LED1545G12', name: 'hall_light', type: 'set', raw: '{"color_temp":300}', state, options: {color_sync: false}};
    yield {model: 'LED1545G12', name: 'hall_light', type: 'set', attribute: 'brightness', raw: '200', state, options: {}};
    yield {model: 'LED1545G12', name: 'hall_light', type: 'set', attribute: 'state', raw: 'OFF', state, options: {}};
    yield {model: 'LED1545G12', name: 'hall_light', type: 'set', attribute: 'color_temp', raw: 'warm', state, options: {}};
  }
  for (const state of PLUG_STATES) {
    for (const raw of PLUG_SETS) yield {model: 'ZNCZ02LM', name: 'kitchen_plug', type: 'set', raw, state, options: {}};
    for (const raw of PLUG_GETS) yield {model: 'ZNCZ02LM', name: 'kitchen_plug', type: 'get', raw, state, options: {}};
    yield {model: 'ZNCZ02LM', name: 'kitchen_plug', type: 'set', attribute: 'state', raw: 'ON', state, options: {}};
  }
  yield {model: 'ZNCZ02LM', name: 'kitchen_plug', type: 'set', raw: '{"state":"ON"}', state: {}, options: {},
    fail: 'Timeout - 1234 - 1 - 1 - 6 - 1 after 10000ms'};
}

(async () => {
  // Converters sleep on unref'd timers (color_temp_step's read-back): keep the process alive meanwhile.
  const keepAlive = setInterval(() => {}, 1000);
  let serial = 0;
  for (const c of cases()) {
    const expected = await runCase(c, ++serial);
    const {fail, ...input} = c;
    if (fail) input.fail = fail;
    process.stdout.write(JSON.stringify({input, expected}) + '\n');
  }
  clearInterval(keepAlive);
})();
