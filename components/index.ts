export * from "./kubernetes";
export * from "./webService";
export * from "./tenantNamespace";
export * from "./artifactBucket";
export * from "./deployerRole";
export * from "./gitopsAgent";
