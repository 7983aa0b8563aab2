// Loads a database.db the way zigbee-herdsman does at start and prints what it knows of each device.
// Usage: node herdsman_check.js HERDSMAN_DIR DATABASE_DB  (HERDSMAN_DIR: node_modules/zigbee-herdsman)
const path = require("node:path");
const [herdsman, database] = process.argv.slice(2);
const { Database } = require(path.join(herdsman, "dist/controller/database.js"));
const Entity = require(path.join(herdsman, "dist/controller/model/entity.js")).default;
const Device = require(path.join(herdsman, "dist/controller/model/device.js")).default;
Entity.injectDatabase(Database.open(database));
const out = Device.all().map((d) => ({
    ieee: d.ieeeAddr, nwk: d.networkAddress, type: d.type, model: d.modelID, manufacturer: d.manufacturerName,
    power: d.powerSource, interview: d.interviewState, interviewCompleted: d.interviewCompleted,
    endpoints: d.endpoints.map((e) => ({id: e.ID, profile: e.profileID, deviceType: e.deviceID,
                                        input: e.inputClusters, output: e.outputClusters})),
}));
process.stdout.write(JSON.stringify(out) + "\n");
