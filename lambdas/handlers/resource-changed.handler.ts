// Entry point under construction in this commit series; the CDK app bundles it by path.
export const handler = async (): Promise<never> => {
  throw new Error('not wired yet');
};
