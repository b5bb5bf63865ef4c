// Runs once, on the first start of the compose MongoDB (empty volume), as root:
// creates DeltaStream's application user. readWriteAnyDatabase: the projections
// and the replay's per-day databases (deltastream_replay_<YYYYMMDD>), but no
// user, role or server administration.
const password = process.env.DS_MONGO_APP_PASSWORD;
if (!password) {
  throw new Error("DS_MONGO_APP_PASSWORD is not set");
}
db.getSiblingDB("admin").createUser({
  user: "deltastream",
  pwd: password,
  roles: [{ role: "readWriteAnyDatabase", db: "admin" }],
});
