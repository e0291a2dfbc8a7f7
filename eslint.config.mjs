// Lint rules for the whole repository: typescript-eslint's recommended set; formatting is Prettier's job.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

export default tseslint.config(
  { ignores: ["node_modules/", "rendered/", ".pulumi-gitops/", "target/", "dist/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      // Unused names are an error, except the `_`-prefixed ones a signature needs.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
  {
    // The dashboard's script runs in the browser, as a classic script.
    files: ["runner/agent/dashboard/*.js"],
    languageOptions: { sourceType: "script", globals: { document: "readonly", fetch: "readonly", setTimeout: "readonly" } },
  },
  {
    // The ts-node the policy analyzer's NODE_PATH provides: a CommonJS module the SDK requires.
    files: ["policy/transpile-only/**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["test/**"],
    rules: {
      // Tests read untyped mock inputs and JSON from the CLI.
      "@typescript-eslint/no-explicit-any": "off",
      // Dynamic providers are serialized into the state and require their modules inside their
      // functions; the mocks harness loads modules the SDK does not type.
      "@typescript-eslint/no-require-imports": "off",
    },
  },
);
