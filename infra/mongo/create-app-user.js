// Creates Rota's application user: read and write on the `rota` database, nothing else, so the api
// never holds the root password. MongoDB's image runs this once, on the first start with an empty
// data volume (/docker-entrypoint-initdb.d).
const password = process.env.ROTA_MONGO_PASSWORD;
if (!password) {
  throw new Error("ROTA_MONGO_PASSWORD is not set");
}
db.getSiblingDB("rota").createUser({
  user: "rota",
  pwd: password,
  roles: [{ role: "readWrite", db: "rota" }],
});
