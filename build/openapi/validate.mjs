// Validates mod_volant_vfio's OpenAPI document with @apidevtools/swagger-parser
// (the official OpenAPI 3.0 JSON Schema, with every error listed, and every
// $ref resolved), plus the two rules of the OpenAPI 3.0 text that the schema
// cannot express and swagger-parser checks only for Swagger 2.0: operationIds
// are unique, and every {name} in a path is a declared path parameter.
//
// Usage: node validate.mjs URL|FILE
//   URL   http(s)://host:port/openapi (a bare http://host:port gets /openapi)
//   FILE  e.g. mod_volant_vfio/openapi.json
// Exit 0 with one "OK" line; 1 with the validator's messages; 2 when the
// document cannot be had at all.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import SwaggerParser from "@apidevtools/swagger-parser";

const require = createRequire(import.meta.url);
const parserVersion = require("@apidevtools/swagger-parser/package.json").version;

function fail(code, lines) {
    for (const l of lines) process.stderr.write(l.replace(/\n+$/, "") + "\n");
    process.exit(code);
}

async function load(arg) {
    if (/^https?:\/\//i.test(arg)) {
        const url = new URL(arg);
        if (url.pathname === "/" || url.pathname === "") url.pathname = "/openapi";
        let res;
        try {
            res = await fetch(url, {
                headers: { Accept: "application/json" },
                signal: AbortSignal.timeout(15000),
            });
        } catch (e) {
            fail(2, [`FAIL ${url}: ${e.cause?.message ?? e.message}`]);
        }
        const body = await res.text();
        if (res.status !== 200) {
            fail(2, [`FAIL ${url}: HTTP ${res.status}`, body.slice(0, 500)]);
        }
        const type = res.headers.get("content-type") ?? "";
        const problems = [];
        if (!/^application\/json\b/i.test(type)) {
            problems.push(`served as Content-Type "${type}", not application/json`);
        }
        return { source: url.href, text: body, problems };
    }
    try {
        return { source: arg, text: await readFile(arg, "utf8"), problems: [] };
    } catch (e) {
        fail(2, [`FAIL ${arg}: ${e.message}`]);
    }
}

// The OpenAPI 3.0 rules outside the JSON Schema.
function specRules(api) {
    const problems = [];
    const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    const seen = new Map();
    const resolve = (p) => {
        if (p && typeof p.$ref === "string" && p.$ref.startsWith("#/")) {
            let node = api;
            for (const part of p.$ref.slice(2).split("/")) {
                node = node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
            }
            return node ?? p;
        }
        return p;
    };
    for (const [path, item] of Object.entries(api.paths ?? {})) {
        if (!item || typeof item !== "object") continue;
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        const common = (item.parameters ?? []).map(resolve);
        for (const method of methods) {
            const op = item[method];
            if (!op) continue;
            const where = `#/paths/${path.replace(/~/g, "~0").replace(/\//g, "~1")}/${method}`;
            if (op.operationId !== undefined) {
                if (seen.has(op.operationId)) {
                    problems.push(`${where} operationId "${op.operationId}" is also used by ${seen.get(op.operationId)}`);
                } else {
                    seen.set(op.operationId, where);
                }
            }
            const params = [...common, ...(op.parameters ?? []).map(resolve)];
            const inPath = params.filter((p) => p?.in === "path").map((p) => p.name);
            for (const name of templated) {
                if (!inPath.includes(name)) {
                    problems.push(`${where} path template {${name}} has no path parameter`);
                }
            }
            for (const name of inPath) {
                if (!templated.includes(name)) {
                    problems.push(`${where} path parameter "${name}" is not in the path template`);
                }
            }
        }
    }
    return problems;
}

// $refs outside the document: the served document must stand alone (and the
// validator must not be made to fetch or read anything else).
function externalRefs(node, at = "#", out = []) {
    if (Array.isArray(node)) {
        node.forEach((v, i) => externalRefs(v, `${at}/${i}`, out));
    } else if (node && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
            if (k === "$ref" && typeof v === "string" && !v.startsWith("#")) {
                out.push(`${at} $ref "${v}" points outside the document`);
            } else {
                externalRefs(v, `${at}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`, out);
            }
        }
    }
    return out;
}

const arg = process.argv[2];
if (!arg || process.argv.length > 3) {
    fail(2, ["usage: validate URL|FILE   (e.g. http://127.0.0.1:8080/openapi or mod_volant_vfio/openapi.json)"]);
}
const { source, text, problems } = await load(arg);
let api;
try {
    api = JSON.parse(text);
} catch (e) {
    fail(1, [`FAIL ${source}: not JSON: ${e.message}`]);
}
if (!api || typeof api !== "object" || Array.isArray(api)) {
    fail(1, [`FAIL ${source}: not a JSON object`]);
}
problems.push(...externalRefs(api));
if (typeof api.openapi !== "string" || !/^3\.0\.\d+$/.test(api.openapi)) {
    problems.push(`#/openapi is ${JSON.stringify(api.openapi)}: this checks OpenAPI 3.0.x documents`);
}
// swagger-parser resolves every $ref first and validates against the schema
// only when all resolve; continueOnError collects every broken $ref, and the
// schema check is then run on its own, so one run lists every error.
const validateSchema = require("@apidevtools/swagger-parser/lib/validators/schema.js");
try {
    await SwaggerParser.validate(structuredClone(api), {
        resolve: { external: false },
        continueOnError: true,
    });
} catch (e) {
    if (Array.isArray(e.errors) && e.errors.length) {
        for (const r of e.errors) {
            const at = Array.isArray(r.path) && r.path.length
                ? "#/" + r.path.map((s) => String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("/") + " "
                : "";
            problems.push(`swagger-parser: ${at}${r.message}`);
        }
        try {
            validateSchema(structuredClone(api));
        } catch (e2) {
            problems.push(`swagger-parser: ${e2.message}`);
        }
    } else {
        problems.push(`swagger-parser: ${e.message}`);
    }
}
try {
    problems.push(...specRules(api));
} catch (e) {
    problems.push(`paths: cannot be walked: ${e.message}`);
}
if (problems.length) {
    fail(1, [`FAIL ${source} (@apidevtools/swagger-parser ${parserVersion}):`, ...problems.map((p) => "  " + p.replace(/\n+$/, "").replace(/\n/g, "\n  "))]);
}
const paths = Object.keys(api.paths ?? {}).length;
const ops = Object.values(api.paths ?? {}).reduce(
    (n, item) => n + ["get", "put", "post", "delete", "options", "head", "patch", "trace"].filter((m) => item[m]).length, 0);
console.log(`OK ${source}: OpenAPI ${api.openapi}, "${api.info?.title}" ${api.info?.version}, ${paths} paths, ${ops} operations (@apidevtools/swagger-parser ${parserVersion})`);
