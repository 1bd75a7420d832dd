// Type-checked (tsc --strict --noEmit, by `make test`), not run: the package's .d.ts must
// type every value a user touches — no `any` on the way from a call to a field.
import init, {
  BundleBuilder,
  Client,
  explain,
  inspectBundle,
  readBundleFile,
  validateManifest,
  validateManifestBytes,
  type App,
  type BundleBlobOutput,
  type BundleOutput,
  type CheckReport,
  type CreatedToken,
  type Decision,
  type Diagnostic,
  type Instance,
  type InstanceStatus,
  type ManifestReport,
  type Q8sError,
  type Token,
} from "../pkg/q8s_wasm.js";
import { followLog, uploadBundle } from "../pkg/http.js";

// Fails to compile when T is `any`.
type NotAny<T> = 0 extends 1 & T ? never : T;
function typed<T>(value: NotAny<T>): T {
  return value;
}

export async function usage(folder: File[], qz: Uint8Array): Promise<string> {
  await init();
  const report: ManifestReport = typed(validateManifest("[App]\n"));
  const first: Diagnostic | undefined = report.diagnostics[0];
  const line: number | null = typed(first?.line ?? null);
  const same: ManifestReport = typed(validateManifestBytes(new Uint8Array()));

  const builder = new BundleBuilder();
  for (const file of folder) builder.add(file.webkitRelativePath, file, { executable: false });
  builder.add("q-app.toml", new Uint8Array(), undefined);
  builder.addLink("etc", "/etc", "outside");
  const count: number = typed(builder.length);
  const check: CheckReport = typed(builder.check());
  const rules: Decision[] = typed(explain(builder));
  const out: BundleOutput = typed(builder.finish());
  const bytes: Uint8Array = typed(out.bytes);
  const asBlob: BundleBlobOutput = typed(builder.finishBlob());
  const blob: Blob = typed(asBlob.blob);
  const readAhead: BundleBlobOutput = typed(await builder.finishBlobAsync());
  const inspected = inspectBundle(qz);
  const icon: Uint8Array = typed(readBundleFile(qz, inspected.icon ?? "static/icon.png"));

  const client = new Client(location.origin);
  const apps: App[] = typed(await client.apps(true));
  const instance: Instance = typed(await client.run(apps[0].id, "PRIVATE"));
  const status: InstanceStatus = typed(instance.status);
  const log: string = typed(await client.logs(instance.id, 100));
  const created: CreatedToken = typed(await client.createToken("ci"));
  const tokens: Token[] = typed(await client.tokens(false));
  const lastUsed: string | null = typed(tokens[0].last_used_at);
  await client.revokeToken(created.id);
  const app: App = typed(await uploadBundle({ url: location.origin, bytes: blob, visibility: "ALL_USERS", onProgress: (sent: number, total: number) => void [sent, total] }));
  await followLog({ url: location.origin, id: instance.id, onLine: (text: string) => void text });
  try {
    await client.terminate(instance.id);
  } catch (e) {
    const err = e as Q8sError;
    const code: string = typed(err.code);
    const hint: string | undefined = typed(err.hint);
    return `${code} ${hint}`;
  }
  return [line, same.valid, count, check.files.length, rules.length, bytes.length, icon.length, status, log, app.id, created.token, lastUsed].join();
}
