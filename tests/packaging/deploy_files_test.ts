/**
 * The deployment files that cannot run here (no container engine, no GitHub): their configs
 * parse as midge parses them, and the Containerfile, compose app and workflows agree with the
 * scripts that are tested for real.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadConfigFile } from "../../broker/config/parse.ts";
import { REPO } from "./_packaging.ts";

const read = (path: string) => Deno.readTextFileSync(`${REPO}/${path}`);

/** The words of a bash array assignment `name=(a b c)` in build-image.sh. */
function bashArray(name: string): string[] {
  const match = new RegExp(`^${name}=\\(([^)]*)\\)$`, "m").exec(read("scripts/build-image.sh"));
  assert.ok(match, `no ${name}=(…) in build-image.sh`);
  return match[1]!.trim().split(/\s+/);
}

/** The last value of a Containerfile instruction, e.g. `CMD`, in the final stage. */
function finalStage(): string[] {
  const lines = read("deploy/Containerfile").replace(/\\\n/g, " ").split("\n");
  const from = lines.findLastIndex((line) => line.startsWith("FROM "));
  return lines.slice(from).filter((line) => line && !line.startsWith("#"));
}

function instruction(name: string): string {
  const line = finalStage().findLast((line) => line.startsWith(`${name} `));
  assert.ok(line, `no ${name} in the final stage`);
  return line.slice(name.length + 1).trim();
}

for (const path of ["deploy/image/mosquitto.conf", "deploy/compose/mosquitto.conf"]) {
  Deno.test(`${path} is a listener on 1883 on every interface with anonymous access`, () => {
    const config = loadConfigFile(`${REPO}/${path}`);
    assert.deepEqual(config.warnings, []);
    assert.equal(config.localOnly, false);
    assert.equal(config.listeners.length, 1);
    assert.equal(config.listeners[0]!.port, 1883);
    assert.equal(config.listeners[0]!.bindAddress, undefined);
    assert.equal(config.allowAnonymous, true);
  });
}

Deno.test("deploy/Containerfile: FROM scratch, non-root, and the same run settings as build-image.sh", () => {
  assert.equal(finalStage()[0], "FROM scratch");
  const uid = /^uid=(\d+)$/m.exec(read("scripts/build-image.sh"))?.[1];
  assert.ok(uid && uid !== "0", "build-image.sh runs the image as a non-root uid");
  assert.equal(instruction("USER"), `${uid}:${uid}`);
  assert.deepEqual(instruction("ENV").split(/\s+/), bashArray("env"));
  assert.deepEqual(JSON.parse(instruction("CMD")), bashArray("cmd"));
  assert.deepEqual(JSON.parse(instruction("ENTRYPOINT")), ["/usr/local/bin/midge"]);
  assert.match(instruction("HEALTHCHECK"), /CMD \["\/usr\/local\/bin\/midge", "healthcheck"\]$/);
  assert.equal(instruction("EXPOSE"), "1883");
  // The tree comes from the tested script, given the compiled binary instead of the bundle.
  const text = read("deploy/Containerfile");
  assert.match(text, /scripts\/cross-compile\.sh --target "\$cpu" --out \/out --compile-only/);
  assert.match(
    text,
    /scripts\/build-image\.sh --arch "\$TARGETARCH" --binary "\/out\/\$cpu\/midge"/,
  );
  assert.match(text, /^FROM --platform=\$BUILDPLATFORM .* AS build$/m);
});

Deno.test("deploy/compose: port 1883, the secrets folder mounted, built from this repo", () => {
  const compose = read("deploy/compose/docker-compose.yml");
  assert.match(compose, /^ {6}- "1883:1883"$/m);
  assert.match(compose, /^ {6}- \/var\/run\/secrets:\/var\/run\/secrets:ro$/m);
  assert.match(compose, /^ {6}context: \.\.\/\.\.$/m);
  assert.match(compose, /^ {6}dockerfile: deploy\/Containerfile$/m);
  assert.match(read("deploy/compose/README.md"), /fioctl devices config set/);
});

Deno.test(".github/workflows: release cross-compiles both targets and pushes a multi-arch image", () => {
  const release = read(".github/workflows/release.yml");
  assert.match(release, /tags: \["v\*"\]/);
  assert.match(release, /scripts\/cross-compile\.sh --target all --out dist --compile-only/);
  assert.match(release, /sha256sum .*> SHA256SUMS/);
  assert.match(release, /platforms: linux\/arm64,linux\/amd64/);
  assert.match(release, /file: deploy\/Containerfile/);
  assert.match(release, /push: true/);
  // CI runs what .ci/run runs here, which ends in `deno task test`.
  assert.match(read(".github/workflows/ci.yml"), /bash \.ci\/run/);
  assert.match(read(".ci/run"), /deno task test/);
});
