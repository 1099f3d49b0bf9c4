// Builds dist/engram-extension/ (the unpacked extension, as loaded in Chromium) and
// dist/engram-extension-<version>.zip (for the Chrome Web Store or to hand around), from src/.
// No bundler: the extension is plain modules and content scripts.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const unpacked = join(dist, "engram-extension");
const { version } = JSON.parse(readFileSync(join(root, "src", "manifest.json"), "utf8"));
const zip = join(dist, `engram-extension-${version}.zip`);

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
cpSync(join(root, "src"), unpacked, { recursive: true });
// Python's zipfile (the project needs Python anyway; no zip tool is assumed).
const python = process.env.PYTHON || "python3";
execFileSync(python, ["-m", "zipfile", "-c", zip, ...readdirSync(unpacked).sort()], { cwd: unpacked });
console.log(`built ${zip}`);

