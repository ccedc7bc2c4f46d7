/** The one place that maps a provisioner to its driver. */
import type { Provisioner } from '../../../lambdas/domain/schemas';
import type { DriverFactory, DriverRegistry } from './driver';
import { pulumiDriver } from './pulumi/driver';
import { terraformDriver, tofuDriver } from './terraform/driver';

export const DRIVERS: DriverRegistry = { terraform: terraformDriver, tofu: tofuDriver, pulumi: pulumiDriver };

export function driverFor(provisioner: Provisioner): DriverFactory {
  return DRIVERS[provisioner];
}
