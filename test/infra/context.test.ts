/** Context values that would deploy something nobody can use are refused at synth, with what to set instead. */
import { App } from 'aws-cdk-lib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackPropsFromContext } from '../../infra/context';
import { OFFLINE_CONTEXT } from '../../infra/asl';

const propsWith = (context: Record<string, unknown>) => stackPropsFromContext(new App({ context: { ...OFFLINE_CONTEXT, ...context } }).node);

describe("the API's JWT authorizer context", () => {
  it.each([
    ['https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE', ['a-real-client']],
    ['https://issuer.example.com/', ['a-real-client']],
    ['https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', ['stack-jobs-example-client']],
    ['https://cognito-idp.<region>.amazonaws.com/<pool-id>', ['<client-id>']],
  ])('refuses the example issuer %s / audience %s, saying what to set', (issuer, audience) => {
    expect(() => propsWith({ 'stackjobs:jwtIssuer': issuer, 'stackjobs:jwtAudience': audience })).toThrow(
      /example value.*pass -c stackjobs:jwtIssuer=https:\/\/cognito-idp/,
    );
  });

  it('requires both, and an https issuer', () => {
    expect(() => stackPropsFromContext(new App({ context: { 'aws:cdk:bundling-stacks': [] } }).node)).toThrow(/are required .*pass -c stackjobs:jwtIssuer=/);
    expect(() => propsWith({ 'stackjobs:jwtIssuer': 'http://idp.acme.internal/' })).toThrow(/must be an https:\/\/ issuer URL/);
  });

  it('accepts a real-looking issuer and audience', () => {
    const props = propsWith({
      'stackjobs:jwtIssuer': 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123',
      'stackjobs:jwtAudience': ['4f1b2c3d5e6f7a8b9c0d1e2f3a'],
    });
    expect(props.jwt).toMatchObject({ issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', audience: ['4f1b2c3d5e6f7a8b9c0d1e2f3a'] });
  });

  it('ships no issuer in cdk.json: a deploy must name its own', () => {
    const context = (JSON.parse(readFileSync(join(__dirname, '../../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
    expect(context['stackjobs:jwtIssuer']).toBeUndefined();
  });
});

describe("the web console's sign-in context", () => {
  const AUDIENCE = ['4f1b2c3d5e6f7a8b9c0d1e2f3a', '7q8r9s0t1u2v3w4x5y6z7a8b9c'];
  const withAudience = (context: Record<string, unknown>) => propsWith({ 'stackjobs:jwtAudience': AUDIENCE, ...context });

  it('takes the first JWT audience as the console client by default, with no sign-in origins besides the issuer', () => {
    expect(withAudience({}).console).toEqual({ clientId: AUDIENCE[0], authOrigins: [] });
  });

  it('takes stackjobs:consoleClientId and stackjobs:consoleAuthOrigins (origins, a trailing slash dropped)', () => {
    const props = withAudience({
      'stackjobs:consoleClientId': AUDIENCE[1],
      'stackjobs:consoleAuthOrigins': 'https://acme-stackjobs.auth.eu-west-1.amazoncognito.com/,https://login.acme.io:8443',
    });
    expect(props.console).toEqual({
      clientId: AUDIENCE[1],
      authOrigins: ['https://acme-stackjobs.auth.eu-west-1.amazoncognito.com', 'https://login.acme.io:8443'],
    });
  });

  it('refuses a console client the API would not accept: its ID token’s aud must be one of the audiences', () => {
    expect(() => withAudience({ 'stackjobs:consoleClientId': 'another-client-id' })).toThrow(
      /consoleClientId \(another-client-id\) must also be in stackjobs:jwtAudience/,
    );
  });

  it.each([['http://login.acme.io'], ['https://login.acme.io/oauth2/token'], ['https://login.example.com'], ['login.acme.io']])(
    'refuses %s as a sign-in origin',
    (origin) => {
      expect(() => withAudience({ 'stackjobs:consoleAuthOrigins': [origin] })).toThrow(/consoleAuthOrigins must list https origins/);
    },
  );
});
