/**
 * Shared setMocks harness for component, config and policy tests. setMocks is process-global;
 * node --test runs each test file in its own process.
 */
import * as pulumi from "@pulumi/pulumi";
import * as rules from "../../policy/rules";

/** A resource as the mocks saw it being registered. */
export interface Registered {
  type: string;
  name: string;
  inputs: any;
  /** Provider reference `urn::id`, when one was given. */
  provider?: string;
  /** ID the mock assigned: `<name>-id`. */
  id: string;
  /** State the mock returned (inputs plus computed fields). */
  state: any;
}

export const ACCOUNT = "123456789012";

/** Computed fields a real provider would return, by resource type. */
function computed(type: string, name: string, inputs: any): Record<string, unknown> {
  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = inputs.bucket ?? `${name}-a1b2c3`;
      return { bucket, arn: `arn:aws:s3:::${bucket}` };
    }
    case "aws:iam/role:Role": {
      const roleName = inputs.name ?? `${name}-a1b2c3`;
      return { name: roleName, arn: `arn:aws:iam::${ACCOUNT}:role/${roleName}` };
    }
    case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
      return { arn: `arn:aws:iam::${ACCOUNT}:oidc-provider/${String(inputs.url).replace(/^https:\/\//, "")}` };
    default:
      return {};
  }
}

/** Installs mocks that record every registered resource; returns the (live) list. */
export function installMocks(stack = "test", project = "pulumi-gitops"): Registered[] {
  const registered: Registered[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state = { ...args.inputs, ...computed(args.type, args.name, args.inputs) };
        const id = `${args.name}-id`;
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider, id, state });
        return { id, state };
      },
      call(args) {
        return args.inputs;
      },
    },
    project,
    stack,
    false,
  );
  return registered;
}

/** Waits until every pending registration has reached the mocks. */
export async function settle(): Promise<void> {
  // The SDK tracks outstanding RPCs; waitForRPCs is exported by the settings module but not typed.
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  await settings.waitForRPCs();
}

/** The resolved value of an output (mocks run as an update, so values are known). */
export function valueOf<T>(o: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** The URN of a resource. */
export function urnOf(r: pulumi.Resource): Promise<string> {
  return valueOf(r.urn);
}

export function ofType(resources: readonly Registered[], type: string): Registered[] {
  return resources.filter((r) => r.type === type);
}

export function byName(resources: readonly Registered[], name: string): Registered {
  const found = resources.filter((r) => r.name === name);
  if (found.length !== 1)
    throw new Error(`expected one resource named ${name}, found ${found.length}: ${resources.map((r) => r.name).join(", ")}`);
  return found[0];
}

/**
 * The policy pack's rules (policy/rules.ts, what the engine runs in `gitops preview` and `apply`)
 * over what the mocks saw, for programs no test engine can preview (their AWS resources). The mocks
 * know every value, so the rules link resources by value (ids, names) instead of by the property
 * dependencies the engine also gives them. test/runner/policy.test.ts runs the pack in the engine.
 */
export function policyViolations(
  rs: readonly Registered[],
  ...only: ((rs: readonly rules.Resource[]) => rules.Violation[])[]
): { resource: string; message: string }[] {
  const resources = rs.map((r) => ({
    type: r.type,
    name: r.name,
    urn: `urn:pulumi:test::pulumi-gitops::${r.type}::${r.name}`,
    props: { ...r.state, id: r.id },
    propertyDependencies: {},
  }));
  const all = [
    rules.noPublicBuckets,
    rules.containersHardened,
    rules.deploymentsInQuotaedNamespaces,
    rules.privilegedRolesNotFromPullRequests,
    rules.containersProbed,
  ];
  return (only.length ? only : all).flatMap((rule) => rule(resources).map((v) => ({ resource: v.resource.name, message: v.message })));
}
