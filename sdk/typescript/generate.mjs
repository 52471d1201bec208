// Types for the TypeScript client, from the live schema (make sdk-check):
//     node generate.mjs SCHEMA_URL OUTPUT.d.ts
// openapi-typescript's documented transform for uploads: a `format: binary` field is a Blob,
// so a typed multipart body can carry files (the CLI would type it as a string).
import fs from "node:fs";
import ts from "typescript";
import openapiTS, { astToString } from "openapi-typescript";

const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const NULL = ts.factory.createLiteralTypeNode(ts.factory.createNull());

const [schemaUrl, output] = process.argv.slice(2);
const ast = await openapiTS(new URL(schemaUrl), {
  // A field with a default may be left out of a request body.
  defaultNonNullable: false,
  transform(schemaObject) {
    if (schemaObject.format === "binary") {
      return schemaObject.nullable ? ts.factory.createUnionTypeNode([BLOB, NULL]) : BLOB;
    }
    return undefined;
  },
});
fs.writeFileSync(output, astToString(ast));
