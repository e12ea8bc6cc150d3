// Prints the Khronos glTF validator's JSON report of a .glb: node scripts/validate_gltf.js FILE.glb
// (the npm package gltf-validator, installed by scripts/install.sh into .node/).
const fs = require("fs");
const path = require("path");
const validator = require(path.join(__dirname, "..", ".node", "node_modules", "gltf-validator"));
const file = process.argv[2];
validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {uri: path.basename(file), maxIssues: 100})
  .then((report) => console.log(JSON.stringify(report)))
  .catch((error) => { console.error(`${file}: ${error}`); process.exit(2); });
