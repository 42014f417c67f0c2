/** Errors of the real control plane's launcher, with stable codes. */
export type ControlPlaneErrorCode = 'CONTROL_PLANE_NOT_BUILT' | 'CONTROL_PLANE_START_FAILED' | 'CONTROL_PLANE_REQUEST_FAILED';

export class ControlPlaneError extends Error {
  constructor(
    readonly code: ControlPlaneErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlPlaneError';
  }
}
