// Entry point reserved for the approvals work (POST /v1/slack/interactions); the CDK app bundles it by path.
export const handler = async (): Promise<never> => {
  throw new Error('not wired yet');
};
