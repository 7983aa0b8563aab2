// Home Assistant discovery exactly as Zigbee2MQTT 2.14.1 announces it, for the household's eight devices.
//
// Runs Zigbee2MQTT's own homeassistant extension (lib/extension/homeassistant) and its Device
// model with the device definitions of zigbee-herdsman-converters, on stubbed Zigbee and MQTT
// layers, and prints one JSON line per device, {"kind": "device", "name", "ieee", "model", "vendor",
// "description", "ota", "exposes"} (the exposes as Zigbee2MQTT lists them, linkquality included),
// then what a state message {"linkquality": 120} becomes before it is published, {"kind": "adjusted",
// "name", "input", "output"}, then one per discovery message, {"kind": "discovery", "name", "topic",
// "payload", "retain", "qos"}.
// The device triggers are those of each action value the household publishes.
//
//   npm install zigbee2mqtt@2.14.1            (in a scratch folder; nothing is run)
//   node discovery_oracle.js <that folder>/node_modules > ../../../data/z2m_discovery.jsonl
//
// What the stubs leave out (and the committed expectations therefore lack): sw_version and
// hw_version (the Basic cluster's softwareBuildID / hardwareVersion, which a flow's mqtt-out
// never sees); the bridge's own device (via_device is kept, it names the coordinator's IEEE).
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const modules = path.resolve(process.argv[2] || "node_modules");
const data = fs.mkdtempSync(path.join(os.tmpdir(), "z2m-oracle-"));
process.env.ZIGBEE2MQTT_DATA = data;

const HOUSEHOLD = [
    ["front_door", "0x00158d0001020304", "lumi.lock.aq1", "LUMI", ["finger_open_admin_id1"]],
    ["door_contact", "0x00158d0007000101", "lumi.sensor_magnet.aq2", "LUMI", []],
    ["hall_motion", "0x00158d0007000102", "lumi.sensor_motion.aq2", "LUMI", []],
    ["living_weather", "0x00158d0007000103", "lumi.weather", "LUMI", []],
    ["desk_button", "0x00158d0007000104", "lumi.sensor_switch.aq2", "LUMI",
        ["single", "double", "triple", "quadruple", "hold", "release"]],
    ["sink_leak", "0x00158d0007000105", "lumi.sensor_wleak.aq1", "LUMI", []],
    ["kitchen_plug", "0x00158d0007000106", "lumi.plug", "LUMI", []],
    ["hall_light", "0x000b57fffe000007", "TRADFRI bulb E27 WS opal 980lm", "IKEA of Sweden", []],
];
const COORDINATOR = "0x00212effff000001";

const devices = HOUSEHOLD.map(([name, ieee]) => `  '${ieee}': {friendly_name: ${name}}`).join("\n");
fs.writeFileSync(path.join(data, "configuration.yaml"), `homeassistant:
  enabled: true
mqtt:
  base_topic: zigbee2mqtt
  server: mqtt://127.0.0.1
frontend:
  enabled: false
advanced:
  cache_state: true
devices:
${devices}
`);

// The converters' own logging would mix with the JSON lines on stdout.
console.log = () => {};
console.info = () => {};
console.debug = () => {};

const z2m = (name) => require(path.join(modules, "zigbee2mqtt", "dist", name));

async function main() {
    const HomeAssistant = z2m("extension/homeassistant").default;
    const Device = z2m("model/device").default;
    const published = [];
    const mqtt = {
        publish: async (topic, payload, options) => {
            published.push({topic: `${options.baseTopic ?? "zigbee2mqtt"}/${topic}`, payload, options});
        },
        subscribe: async () => {},
        unsubscribe: async () => {},
    };
    const zigbee = {firstCoordinatorEndpoint: () => ({deviceIeeeAddress: COORDINATOR})};
    const ext = new HomeAssistant(zigbee, mqtt, {}, async () => {}, {}, async () => {}, async () => {}, async () => {});
    ext.zigbee2MQTTVersion = "2.14.1";
    ext.discoveryOrigin = {name: "Zigbee2MQTT", sw: "2.14.1", url: "https://www.zigbee2mqtt.io"};
    ext.bridge = ext.getBridgeEntity({type: "ConBee2/RaspBee2", meta: {revision: "0x26720700"}});
    ext.bridgeIdentifier = ext.getDevicePayload(ext.bridge).identifiers[0];
    for (const [name, ieee, modelID, manufacturerName, actions] of HOUSEHOLD) {
        const zh = {
            ieeeAddr: ieee, modelID, manufacturerName, type: "EndDevice", interviewState: "SUCCESSFUL",
            endpoints: [], customClusters: {}, getEndpoint: () => undefined,
        };
        const device = new Device(zh);
        await device.resolveDefinition();
        const definition = device.definition;
        process.stdout.write(`${JSON.stringify({
            kind: "device", name, ieee, model: definition.model, vendor: definition.vendor,
            description: definition.description, ota: Boolean(definition.ota), exposes: device.exposes(),
        })}\n`);
        const before = published.length;
        await ext.discover(device);
        for (const action of actions) {
            await ext.publishDeviceTriggerDiscover(device, "action", action);
        }
        // What a state message becomes before it is published (mock properties, the update member).
        const state = {linkquality: 120};
        ext.adjustMessageBeforePublish(device, state);
        process.stdout.write(`${JSON.stringify({kind: "adjusted", name, input: {linkquality: 120}, output: state})}\n`);
        for (const message of published.slice(before)) {
            const options = message.options.clientOptions ?? {};
            process.stdout.write(`${JSON.stringify({
                kind: "discovery", name, topic: message.topic, payload: JSON.parse(message.payload),
                retain: Boolean(options.retain), qos: options.qos ?? 0,
            })}\n`);
        }
    }
}

main().then(() => fs.rmSync(data, {recursive: true, force: true}), (error) => {
    console.error(error);
    process.exit(1);
});
