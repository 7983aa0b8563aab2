// Dumps zigbee-herdsman 10.9.5's definitions of the household's clusters as a Python module.
const base = (process.env.ORACLE_MODULES || __dirname + '/node_modules').replace(/\/?$/, '/');
const c = require(base + 'zigbee-herdsman/dist/zspec/zcl/definition/cluster').Clusters;
const names = ['genBasic','genPowerCfg','genIdentify','genOnOff','genLevelCtrl','genAnalogInput','genMultistateInput','lightingColorCtrl','msIlluminanceMeasurement','msTemperatureMeasurement','msPressureMeasurement','msRelativeHumidity','msOccupancySensing','ssIasZone'];
const keys = new Set();
const py = v => v === undefined || v === null ? 'None' : typeof v === 'string' ? JSON.stringify(v) : typeof v === 'boolean' ? (v ? 'True' : 'False') : typeof v === 'bigint' ? v.toString() : typeof v === 'object' && !Array.isArray(v) ? v.toString() : Array.isArray(v) ? '(' + v.map(py).join(', ') + (v.length === 1 ? ',' : '') + ')' : String(v);
const cond = cs => (cs || []).map(x => {
  if (x.type === 'minimumRemainingBufferBytes') return ['remaining', null, x.value, false];
  throw new Error('condition ' + x.type);
});
let attrs = 'ATTRIBUTES: dict[int, dict[int, tuple[Attribute, ...]]] = {\n';
let cmds = 'COMMANDS_26: _Table = {\n';
for (const n of names) {
  const k = c[n];
  const byId = {};
  for (const a of Object.values(k.attributes)) {
    for (const key of Object.keys(a)) keys.add(key);
    const special = a.special ? Object.keys(a.special) : [];
    (byId[a.ID] = byId[a.ID] || []).push(`Attribute(${py(a.name)}, ${a.type}, ${py(a.manufacturerCode)}, ${py(a.default)}, ${py(special)}, ${py(a.min)}, ${py(a.max)}, ${py(a.minExcl)}, ${py(a.maxExcl)}, ${py(a.length)}, ${py(a.minLen)}, ${py(a.maxLen)})`);
  }
  attrs += `    ${k.ID}: {  # ${n}\n` + Object.entries(byId).map(([id, l]) => `        ${id}: (${l.join(', ')},),\n`).join('') + '    },\n';
  const table = d => '{' + Object.values(d || {}).map(x => `${x.ID}: (${py(x.name)}, (` + x.parameters.map(p => `(${py(p.name)}, ${p.type}, ${py(cond(p.conditions).map(x => ({toString: () => py(x)})))}, ${py(p.min)}, ${py(p.max)}, ${py(p.special ? Object.keys(p.special).map(Number) : [])})`).join(', ') + (x.parameters.length === 1 ? ',' : '') + '))').join(', ') + '}';
  if (n !== 'genBasic' && n !== 'genPowerCfg') cmds += `    ${k.ID}: (${table(k.commands)}, ${table(k.commandsResponse)}),  # ${n}\n`;
}
attrs += '}\n'; cmds += '}\n';
console.error([...keys].join(','));
process.stdout.write(attrs + '\n' + cmds);
