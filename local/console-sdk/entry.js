// What the console takes from Logto's browser SDK; esbuild bundles it (and its dependencies) into one ES module.
export { default as LogtoClient, UserScope } from '@logto/browser';
