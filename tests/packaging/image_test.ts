/**
 * `scripts/build-image.sh`: the FROM-scratch OCI image, built without a container engine from the
 * offline artifact. It is read back with our own reader (every blob checked against its digest)
 * and with skopeo, its file tree is compared with an allow-list, and it runs in a chroot of the
 * unpacked tree with the image's own entrypoint, command, environment and user. For arm64 the
 * static qemu is copied into that scratch copy of the tree (never into the image); `qemu -L`
 * would not do as proof, since it falls back to the host's files.
 *
 * @module
 */

import assert from "node:assert/strict";
import { freePort, runProcess, spawnProcess } from "../_helpers/process.ts";
import {
  AARCH64_SYSROOT,
  assertExchange,
  buildBundle,
  exists,
  IS_LINUX_HOST,
  IS_ROOT,
  mib,
  QEMU_AARCH64,
  QEMU_TIMEOUT_MS,
  REPO,
  requireFiles,
  runScript,
  tempDir,
  waitForConnack,
  writeConfig,
} from "./_packaging.ts";

const VERSION = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).version as string;
if (!IS_ROOT) {
  console.warn("image_test.ts: the chroot steps are ignored: chroot needs root (CI runs as root)");
}

/** The files of the image besides the C library: the same for both arches. */
const COMMON_FILES = [
  "etc/",
  "etc/group",
  "etc/hosts",
  "etc/midge/",
  "etc/midge/mosquitto.conf",
  "etc/passwd",
  "lib/",
  "usr/",
  "usr/local/",
  "usr/local/bin/",
  "usr/local/bin/deno",
  "usr/local/lib/",
  "usr/local/lib/midge/",
  "usr/local/lib/midge/midge.js",
  "var/",
  "var/lib/",
  "var/lib/midge/",
  "var/run/",
  "var/run/secrets/",
];

/** glibc and libgcc_s, as Deno's Linux builds name them. */
function libraryFiles(triplet: string): string[] {
  const names = ["libc.so.6", "libdl.so.2", "libgcc_s.so.1", "libm.so.6", "libpthread.so.0"];
  return [`lib/${triplet}/`, ...[...names, "librt.so.1"].map((name) => `lib/${triplet}/${name}`)];
}

/** Everything the arm64 and the amd64 image may hold, and nothing else. */
const ALLOWED: Record<"arm64" | "amd64", string[]> = {
  arm64: [...COMMON_FILES, ...libraryFiles("aarch64-linux-gnu"), "lib/ld-linux-aarch64.so.1"],
  amd64: [
    ...COMMON_FILES,
    ...libraryFiles("x86_64-linux-gnu"),
    "lib64/",
    "lib64/ld-linux-x86-64.so.2",
  ],
};

/** The parts of the image config the tests look at (OCI config plus Docker's Healthcheck). */
interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config: {
    User: string;
    Env: string[];
    Entrypoint: string[];
    Cmd: string[];
    ExposedPorts: Record<string, unknown>;
    Volumes?: Record<string, unknown>;
    Healthcheck: { Test: string[] };
  };
  rootfs: { type: string; diff_ids: string[] };
}

/** An OCI archive, unpacked and checked. */
interface Image {
  digest: string;
  config: ImageConfig;
  /** Path of the gzipped layer. */
  layer: string;
  layerSize: number;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `sha256:${Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/** Reads an OCI archive: index → manifest → config and layer, each checked against its digest. */
async function readImage(archive: string, dir: string): Promise<Image> {
  Deno.mkdirSync(dir);
  const untar = await runProcess("tar", ["-xf", archive, "-C", dir]);
  assert.equal(untar.code, 0, untar.stderr.join("\n"));
  const blob = async (digest: string, size: number) => {
    const path = `${dir}/blobs/${digest.replace(":", "/")}`;
    const bytes = await Deno.readFile(path);
    assert.equal(bytes.length, size, `size of ${digest}`);
    assert.equal(await sha256(bytes), digest, `content of ${digest}`);
    return { path, bytes };
  };
  const layout = JSON.parse(Deno.readTextFileSync(`${dir}/oci-layout`));
  assert.equal(layout.imageLayoutVersion, "1.0.0");
  const index = JSON.parse(Deno.readTextFileSync(`${dir}/index.json`));
  assert.equal(index.manifests.length, 1);
  const entry = index.manifests[0];
  assert.equal(entry.mediaType, "application/vnd.oci.image.manifest.v1+json");
  const manifest = JSON.parse(
    new TextDecoder().decode((await blob(entry.digest, entry.size)).bytes),
  );
  assert.equal(manifest.config.mediaType, "application/vnd.oci.image.config.v1+json");
  const config: ImageConfig = JSON.parse(
    new TextDecoder().decode((await blob(manifest.config.digest, manifest.config.size)).bytes),
  );
  assert.equal(manifest.layers.length, 1, "one layer: FROM scratch plus one tree");
  const [layerEntry] = manifest.layers;
  assert.equal(layerEntry.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
  const layer = await blob(layerEntry.digest, layerEntry.size);
  const tar = await new Response(
    new Blob([layer.bytes]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).bytes();
  assert.deepEqual(config.rootfs, { type: "layers", diff_ids: [await sha256(tar)] });
  assert.deepEqual(entry.platform, {
    architecture: config.architecture,
    os: config.os,
    ...(config.variant ? { variant: config.variant } : {}),
  });
  return { digest: entry.digest, config, layer: layer.path, layerSize: layerEntry.size };
}

/** Entries of a gzipped layer as `tar -tv` shows them: `mode owner path`. */
async function layerEntries(layer: string): Promise<{ path: string; owner: string }[]> {
  const list = await runProcess("tar", ["--numeric-owner", "-tvzf", layer]);
  assert.equal(list.code, 0, list.stderr.join("\n"));
  return list.stdout.map((line) => {
    const fields = line.split(/\s+/);
    return { owner: fields[1]!, path: fields.slice(5).join(" ") };
  });
}

/** Unpacks a layer as root, so owners are kept, into a scratch folder. */
async function unpack(layer: string, rootfs: string): Promise<void> {
  Deno.mkdirSync(rootfs);
  const untar = await runProcess("tar", ["--same-owner", "-xzf", layer, "-C", rootfs]);
  assert.equal(untar.code, 0, untar.stderr.join("\n"));
}

/**
 * `env -i <image Env> chroot --userspec=<image User> ROOTFS [qemu] ARGS`: the image, run. With
 * `proc`, a /proc is mounted in a mount namespace of its own (gone with the process), as every
 * container engine provides one; Deno needs /proc/self/exe, which qemu-user emulates by itself.
 */
function runInChroot(
  rootfs: string,
  config: ImageConfig,
  args: string[],
  { qemu, proc = false }: { qemu?: string; proc?: boolean } = {},
) {
  const command = [
    "env",
    "-i",
    ...config.config.Env,
    "/usr/sbin/chroot",
    `--userspec=${config.config.User}`,
    rootfs,
    ...(qemu ? [qemu] : []),
    ...args,
  ];
  if (!proc) return spawnProcess(command[0]!, command.slice(1));
  Deno.mkdirSync(`${rootfs}/proc`, { recursive: true });
  return spawnProcess("unshare", [
    "--fork",
    "--kill-child",
    `--mount-proc=${rootfs}/proc`,
    ...command,
  ]);
}

/** Checks the user, entrypoint, command and health check every image must have. */
function assertRunConfig(config: ImageConfig): void {
  const [uid, gid] = config.config.User.split(":").map(Number);
  assert.ok(uid !== undefined && uid > 0 && gid !== undefined && gid > 0, "runs as non-root");
  assert.equal(config.config.Entrypoint[0], "/usr/local/bin/deno");
  assert.equal(config.config.Entrypoint.at(-1), "/usr/local/lib/midge/midge.js");
  assert.deepEqual(config.config.Cmd, [
    "-c",
    "/var/run/secrets/mosquitto.conf",
    "-c",
    "/etc/midge/mosquitto.conf",
    "--watch",
  ]);
  assert.deepEqual(config.config.Healthcheck.Test, [
    "CMD",
    ...config.config.Entrypoint,
    "healthcheck",
  ]);
  assert.deepEqual(Object.keys(config.config.ExposedPorts), ["1883/tcp"]);
  // Issue 8: the image declares a volume for the persistent state.
  assert.deepEqual(Object.keys(config.config.Volumes ?? {}), ["/var/lib/midge"]);
}

Deno.test({
  name: "build-image.sh arm64: reproducible OCI archive of an allow-listed scratch tree that runs",
  ignore: !IS_LINUX_HOST,
  async fn(t) {
    requireFiles({
      [QEMU_AARCH64]: "qemu-user-static",
      [`${AARCH64_SYSROOT}/lib/libc.so.6`]: "libc6-arm64-cross",
      [`${AARCH64_SYSROOT}/lib/libgcc_s.so.1`]: "libgcc-s1-arm64-cross",
      "/usr/bin/mosquitto_pub": "mosquitto-clients",
    });
    await using dir = tempDir("image-arm64");
    await buildBundle("aarch64", `${dir.path}/artifact`);
    const build = (out: string) =>
      runScript("build-image.sh", [
        "--arch",
        "arm64",
        "--artifact",
        `${dir.path}/artifact/aarch64`,
        "--out",
        out,
      ]);

    let image: Image | undefined;
    await t.step("two builds give the same digest and the same bytes", async () => {
      const first = await build(`${dir.path}/first.tar`);
      assert.equal(first.code, 0, first.stderr);
      const second = await build(`${dir.path}/second.tar`);
      assert.equal(second.code, 0, second.stderr);
      assert.match(first.stdout, /^sha256:[0-9a-f]{64}$/);
      assert.equal(second.stdout, first.stdout);
      const [a, b] = [`${dir.path}/first.tar`, `${dir.path}/second.tar`].map((path) =>
        Deno.readFileSync(path)
      );
      assert.ok(a!.length === b!.length && a!.every((byte, i) => byte === b![i]), "bytes differ");
      image = await readImage(`${dir.path}/first.tar`, `${dir.path}/oci`);
      assert.equal(image.digest, first.stdout);
      console.log(`arm64 image: ${first.stdout}, layer ${mib(image.layerSize)} gzipped`);
    });
    if (!image) return;
    const { config } = image;

    await t.step("its config: linux/arm64, non-root user, the entrypoint and health check", () => {
      assert.equal(config.architecture, "arm64");
      assert.equal(config.os, "linux");
      assert.equal(config.variant, "v8");
      assertRunConfig(config);
    });

    await t.step({
      name: "skopeo inspect reads it as linux/arm64 with the same digest",
      ignore: !exists("/usr/bin/skopeo"),
      fn: async () => {
        const inspect = await runProcess("skopeo", [
          "inspect",
          `oci-archive:${dir.path}/first.tar`,
        ]);
        assert.equal(inspect.code, 0, inspect.stderr.join("\n"));
        const info = JSON.parse(inspect.stdout.join("\n"));
        assert.equal(info.Architecture, "arm64");
        assert.equal(info.Os, "linux");
        assert.equal(info.Digest, image!.digest);
        assert.deepEqual(info.Env, config.config.Env);
      },
    });

    await t.step("its tree holds exactly the allow-listed files", async () => {
      const entries = await layerEntries(image!.layer);
      assert.deepEqual(entries.map((entry) => entry.path).sort(), [...ALLOWED.arm64].sort());
      const [uid, gid] = config.config.User.split(":");
      for (const entry of entries) {
        // Only the state folder belongs to the image's user.
        const owner = entry.path === "var/lib/midge/" ? `${uid}/${gid}` : "0/0";
        assert.equal(entry.owner, owner, entry.path);
      }
    });

    await t.step({
      name: "it runs in a chroot: mosquitto clients, health check, a secret config picked up",
      ignore: !IS_ROOT,
      fn: async () => {
        const rootfs = `${dir.path}/rootfs`;
        await unpack(image!.layer, rootfs);
        // Scratch copy only: the emulator, and a loopback port instead of 1883 on all interfaces.
        Deno.copyFileSync(QEMU_AARCH64, `${rootfs}/qemu-aarch64-static`);
        Deno.chmodSync(`${rootfs}/qemu-aarch64-static`, 0o755);
        const port = freePort();
        writeConfig(`${rootfs}/etc/midge/mosquitto.conf`, [port]);

        const started = performance.now();
        await using broker = runInChroot(
          rootfs,
          config,
          [...config.config.Entrypoint, ...config.config.Cmd],
          { qemu: "/qemu-aarch64-static" },
        );
        const connackMs = await waitForConnack(port, broker, { since: started });
        console.log(`arm64 image in chroot under qemu: start to first CONNACK ${connackMs} ms`);
        await assertExchange(port, "packaging/image", "temp: 30");

        // HEALTHCHECK's command, pointed at the test's port.
        await using health = runInChroot(rootfs, config, [
          ...config.config.Healthcheck.Test.slice(1),
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
        ], { qemu: "/qemu-aarch64-static" });
        const healthStatus = await health.status(QEMU_TIMEOUT_MS);
        assert.equal(healthStatus.code, 0, health.describeOutput());

        // The seed's step: a mosquitto.conf pushed into the secrets folder later replaces the
        // default one, without a restart.
        let secretPort = freePort();
        while (secretPort === port) secretPort = freePort();
        const from = broker.stderr.length;
        writeConfig(`${rootfs}/var/run/secrets/mosquitto.conf`, [secretPort]);
        await broker.waitForLine(/Config loaded from \/var\/run\/secrets\/mosquitto\.conf\.$/, {
          stream: "stderr",
          from,
          timeoutMs: QEMU_TIMEOUT_MS,
        });
        await waitForConnack(secretPort, broker);
        await assertExchange(secretPort, "packaging/image", "temp: 32");

        broker.kill("SIGTERM");
        const status = await broker.status(QEMU_TIMEOUT_MS);
        assert.equal(status.code, 0, broker.describeOutput());
      },
    });
  },
});

Deno.test({
  name: "build-image.sh amd64: allow-listed scratch tree whose Deno runs in a chroot",
  ignore: !IS_LINUX_HOST || Deno.build.arch !== "x86_64",
  async fn(t) {
    await using dir = tempDir("image-amd64");
    await buildBundle("x86_64", `${dir.path}/artifact`);
    const build = await runScript("build-image.sh", [
      "--arch",
      "amd64",
      "--artifact",
      `${dir.path}/artifact/x86_64`,
      "--out",
      `${dir.path}/image.tar`,
    ]);
    assert.equal(build.code, 0, build.stderr);
    const image = await readImage(`${dir.path}/image.tar`, `${dir.path}/oci`);
    console.log(`amd64 image: ${image.digest}, layer ${mib(image.layerSize)} gzipped`);
    assert.equal(image.config.architecture, "amd64");
    assert.equal(image.config.os, "linux");
    assertRunConfig(image.config);
    const entries = await layerEntries(image.layer);
    assert.deepEqual(entries.map((entry) => entry.path).sort(), [...ALLOWED.amd64].sort());

    await t.step({
      name: "the entrypoint starts midge with nothing but the image's files",
      ignore: !IS_ROOT,
      fn: async () => {
        const rootfs = `${dir.path}/rootfs`;
        await unpack(image.layer, rootfs);
        await using midge = runInChroot(rootfs, image.config, [
          ...image.config.config.Entrypoint,
          "--version",
        ], { proc: true });
        const status = await midge.status(QEMU_TIMEOUT_MS);
        assert.equal(status.code, 0, midge.describeOutput());
        assert.deepEqual(midge.stdout, [VERSION]);
      },
    });
  },
});

Deno.test({
  name: "build-image.sh --binary --rootfs: the tree deploy/Containerfile copies, with one binary",
  ignore: !IS_LINUX_HOST || Deno.build.arch !== "x86_64",
  async fn() {
    await using dir = tempDir("rootfs");
    const rootfs = `${dir.path}/rootfs`;
    // Any x86_64 executable stands in for the `deno compile`d midge here.
    const build = await runScript("build-image.sh", [
      "--arch",
      "amd64",
      "--binary",
      Deno.execPath(),
      "--rootfs",
      rootfs,
    ]);
    assert.equal(build.code, 0, build.stderr);
    const paths: string[] = [];
    const walk = (relative: string) => {
      for (const entry of Deno.readDirSync(`${rootfs}/${relative}`)) {
        const path = `${relative}${entry.name}`;
        paths.push(entry.isDirectory ? `${path}/` : path);
        if (entry.isDirectory) walk(`${path}/`);
      }
    };
    walk("");
    const expected = ALLOWED.amd64
      .filter((path) => !path.startsWith("usr/local/lib/") && path !== "usr/local/bin/deno")
      .concat("usr/local/bin/midge");
    assert.deepEqual(paths.sort(), expected.sort());
    if (IS_ROOT) assert.equal(Deno.statSync(`${rootfs}/var/lib/midge`).uid, 65532);
  },
});
