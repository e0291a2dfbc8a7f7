/**
 * The pulumi-gitops program. The stack's config (stacks/Pulumi.<stack>.yaml) is validated first;
 * an invalid file fails with one StackConfigError listing every problem, before any resource.
 *
 * Stack outputs are the defined fields of StackOutputs (program.ts): environment,
 * namespace, serviceName, url, image, replicas, and where they apply maxReplicas, host, renderDir,
 * bucketName, applyRoleArn, previewRoleArn, driftRoleArn.
 */
import * as pulumi from "@pulumi/pulumi";
import { definedOutputs, processContext, runProgram } from "./program";

export = definedOutputs(runProgram(pulumi.getStack(), pulumi.runtime.allConfig(), processContext(pulumi.getStack())));
