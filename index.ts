import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";

// Placeholder program, replaced by the components and validated config.
const root = process.env.GITOPS_ROOT ?? process.cwd();
const provider = new k8s.Provider("render", { renderYamlToDirectory: path.join(root, "rendered", "dev"), enableConfigMapMutable: true });
const cm = new k8s.core.v1.ConfigMap("hello", { metadata: { name: "hello" }, data: { a: "1" } }, { provider });
export const name = cm.metadata.name;
