// The values q8s-wasm hands to JS. Field names are those of the CLI's `-o json` and of the
// REST API, so one shape serves every surface. (Kept beside the Rust types they mirror;
// bindings-wasm/tests/types.test.ts type-checks a use of every one.)

/** One problem found in a manifest, a folder or a bundle. */
export interface Diagnostic {
  severity: "error" | "warning" | "note";
  /** Stable kebab-case code, e.g. `invalid-version`. */
  code: string;
  /** A manifest field (`App.Version`, `Env[1].Name`) or a file path; `""` for the whole. */
  path: string;
  message: string;
  /** 1-based line in the manifest (or in `requirements.txt` when `path` is that file), when one applies. */
  line: number | null;
  /** 1-based column (in characters), when one applies. */
  column: number | null;
  help: string | null;
}

/** `[Runtime]` of a manifest, as the manifest and the API give it. */
export interface RuntimeSettings {
  module: string;
  volume_mount: string | null;
  volume_size: string | null;
  memory_limit: string | null;
  memory_reservation: string | null;
  /** `Runtime.IdleSuspend`: a duration such as `30m`, or `never`. */
  idle_suspend: string | null;
}

/** One `[[Env]]` entry: a variable filled from a secret's key. */
export interface EnvVar {
  name: string;
  secret: string;
  secret_key: string;
}

/** A valid `q-app.toml`. */
export interface Manifest {
  app: {
    name: string;
    version: string;
    title: string | null;
    description: string | null;
    category: string | null;
    keywords: string[];
  };
  runtime: RuntimeSettings;
  env: EnvVar[];
}

/** What `validateManifest` found. */
export interface ManifestReport {
  valid: boolean;
  manifest: Manifest | null;
  diagnostics: Diagnostic[];
}

/** Options of `BundleBuilder.add`. */
export interface AddOptions {
  /** Store the file with mode 0755 (default 0644). */
  executable?: boolean;
}

/** A file chosen for the bundle. */
export interface SelectedFile {
  path: string;
  executable: boolean;
}

/** The rule that decided one path. */
export interface Decision {
  /** The path seen; folders end with `/`. */
  path: string;
  included: boolean;
  /** `default: __pycache__/`, `.gitignore:3: *.log`, `included`, … */
  rule: string;
}

/** What `BundleBuilder.check` found, without writing anything. */
export interface CheckReport {
  valid: boolean;
  manifest: Manifest | null;
  /** `q-app.toml` (or the legacy `wave-app.toml`), when present. */
  manifest_file: string | null;
  icon: string | null;
  screenshots: string[];
  files: SelectedFile[];
  explain: Decision[];
  diagnostics: Diagnostic[];
}

/** What `BundleBuilder.finish` and `finishBlob` describe. */
export interface BundleInfo {
  /** `<Name>.<Version>.qz`. */
  file_name: string;
  name: string;
  version: string;
  /** Lowercase hex sha256 of `bytes`. */
  sha256: string;
  size: number;
  /** The stored paths, in archive order. */
  files: string[];
  icon: string | null;
  screenshots: string[];
  /** Warnings (a bundle with errors is never written). */
  diagnostics: Diagnostic[];
  explain: Decision[];
}

/** A bundle written by `BundleBuilder.finish`. */
export interface BundleOutput extends BundleInfo {
  /** The `.qz` archive. */
  bytes: Uint8Array;
}

/** A bundle written by `BundleBuilder.finishBlob`. */
export interface BundleBlobOutput extends BundleInfo {
  /** The `.qz` archive, an `application/zip` Blob. */
  blob: Blob;
}

/** One entry of a `.qz`. */
export interface ArchiveEntry {
  name: string;
  size: number;
  compressed_size: number;
  executable: boolean;
}

/** What `inspectBundle` found in a `.qz`. */
export interface InspectReport {
  valid: boolean;
  sha256: string;
  size: number;
  manifest: Manifest | null;
  /** `q-app.toml` (or the legacy `wave-app.toml`), when present. */
  manifest_file: string | null;
  icon: string | null;
  screenshots: string[];
  entries: ArchiveEntry[];
  diagnostics: Diagnostic[];
}

export type Visibility = "PRIVATE" | "ALL_USERS";

export type InstanceStatus =
  | "PENDING"
  | "STARTING"
  | "RUNNING"
  | "SUSPENDED"
  | "FAILED"
  | "TERMINATED";

/** The signed-in user. */
export interface Me {
  username: string;
  admin: boolean;
  created_at: string;
}

/** An API token as `GET /tokens` lists it: never its secret. */
export interface Token {
  id: string;
  /** Its label; several tokens may share one. */
  name: string;
  owner: string;
  created_at: string;
  /** When it was last used, to within a minute; `null` if never. */
  last_used_at: string | null;
  /** Whether this very request was sent with it (never, from a page signed in by session). */
  current: boolean;
}

/** The answer of `POST /tokens` (`Client.createToken`): the secret, shown this once. */
export interface CreatedToken {
  id: string;
  name: string;
  /** Send as `Authorization: Bearer <token>`; the server keeps only its hash. */
  token: string;
  created_at: string;
}

/** The answer of `GET /admin/capacity` (`Client.capacity`, admins): what the answering
 * server holds of its machine's memory, and every server's instances by status. */
export interface CapacityReport {
  /** The server that answered (its `--node-name`). */
  node: string;
  /** Memory its instances may reserve in all; `null` where the runtime does not admit by
   * memory (a cluster's scheduler does). */
  capacity_bytes: number | null;
  /** What its admitted instances reserve (`MemoryReservation`, else `MemoryLimit`). */
  reserved_bytes: number;
  /** What they use now (their working set); `null` when it cannot be read. */
  used_bytes: number | null;
  /** Instances admitted on this server (starting or running). */
  admitted: number;
  /** Instances waiting for memory to start. */
  waiting: number;
  /** Every server's instances by status (`RUNNING`, `SUSPENDED`, …). */
  instances: Record<string, number>;
  /** Of the `SUSPENDED` ones, those asleep for being idle (`--idle-suspend`): they hold no
   * memory and wake on their next request. */
  sleeping: number;
}

/** Where an app's bundle is stored. */
export interface BundleRef {
  /** The file name, `<name>.<version>.qz`. */
  location: string;
  sha256: string;
  size: number;
}

/** An imported app version, as the REST API describes it. */
export interface App {
  id: string;
  name: string;
  version: string;
  title: string | null;
  description: string | null;
  category: string | null;
  keywords: string[];
  owner: string;
  visibility: Visibility;
  created_at: string;
  updated_at: string;
  bundle: BundleRef;
  /** Where the bundle keeps its icon (`<name>.<version>/icon.png`), if it has one; the
   * image itself is served at `/api/v1/apps/{id}/icon`. */
  icon_location: string | null;
  screenshots: string[];
  runtime: RuntimeSettings;
  env: EnvVar[];
  instance_count: number;
}

/** A running (or stopped) copy of an app. */
export interface Instance {
  id: string;
  app_id: string;
  app_name: string;
  app_version: string;
  /** The app's `App.Title`, if it has one. */
  app_title: string | null;
  /** The app's icon (fetch it from `/apps/{app_id}/icon`), if it has one. */
  app_icon_location: string | null;
  owner: string;
  visibility: Visibility;
  status: InstanceStatus;
  status_message: string | null;
  restarts: number;
  /** Where it is served: `http://<id>.<domain>/`. */
  url: string;
  created_at: string;
  updated_at: string;
}

/** What `Client.instances()` resolves to: the instances listed (newest first) and how many
 * terminated ones the status filter left out. */
export interface InstanceList {
  instances: Instance[];
  terminated_omitted: number;
  /** Always false here: the browser module lists every instance (it follows the pages). */
  more: boolean;
}

/**
 * Every `code` a q8s error can have: core's `ErrorCode` list, which a test keeps this equal
 * to (see `docs/api.md`, "Error codes"). The server's codes first, then the clients' own.
 */
export type Q8sErrorCode =
  | "upload-failed"
  | "conflicting-session-cookies"
  | "invalid-cursor"
  | "unauthorized"
  | "forbidden"
  | "app-name-taken"
  | "secret-forbidden"
  | "cross-origin-request"
  | "not-found"
  | "app-version-exists"
  | "app-has-instances"
  | "user-exists"
  | "user-code-exists"
  | "instance-terminated"
  | "bundle-too-large"
  | "body-too-large"
  | "unsupported-media-type"
  | "invalid-request"
  | "invalid-bundle"
  | "immutable-field"
  | "invalid-visibility"
  | "missing-secret"
  | "invalid-username"
  | "weak-password"
  | "invalid-secret-name"
  | "invalid-secret-key"
  | "empty-secret"
  | "invalid-secret-access"
  | "invalid-name"
  | "unknown-user"
  | "invalid-instance-spec"
  | "too-many-attempts"
  | "internal-error"
  | "runtime-io"
  | "runtime-shutting-down"
  | "replica-unavailable"
  | "insufficient-storage"
  | "unreachable"
  | "unexpected-response"
  | "invalid-url"
  | "timeout"
  | "io-error"
  | "read-failed"
  | "invalid-path"
  | "path-conflict"
  | "invalid-argument"
  | "cancelled"
  | "access-denied"
  | "expired-token"
  | "invalid-grant"
  | "invalid-client"
  | "unsupported-grant-type"
  | "instance-failed"
  | "config-path"
  | "config-io"
  | "config-invalid"
  | "unknown-profile"
  | "ambiguous-id";

/** The `Error`s q8s-wasm throws and its promises reject with. */
export interface Q8sError extends Error {
  /** Stable code: `invalid-bundle`, `invalid-path`, `app-version-exists`, `unauthorized`, … */
  code: Q8sErrorCode;
  /** The rules broken, for `invalid-bundle` and for imports refused by the server. */
  diagnostics?: Diagnostic[];
  /** The HTTP status, for errors that came with an answer. */
  status?: number;
  /** The server's `details`, as sent. */
  details?: unknown[] | null;
  /** What to do about it, for codes where there is something to do. */
  hint?: string;
}
