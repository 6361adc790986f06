import { ServingConfigurationError } from '../core/errors';

/**
 * A serving is started under a name that another serving already runs under. Its code stays
 * `INVALID_CONFIGURATION`; the class lets BatchServingExceptionFilter answer a run-time
 * `register()` of a taken name with 409 Conflict rather than 500.
 */
export class ServingNameTakenError extends ServingConfigurationError {}
