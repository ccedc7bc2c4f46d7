// Quiet the SDK's Node 20 notice and keep Powertools logs out of test output unless asked for.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.AWS_REGION ??= 'us-east-1';
// Metrics are asserted through the Metrics object where it matters; EMF lines on stdout are noise in tests.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
