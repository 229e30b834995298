// Original file: proto/audit.proto

import type { AuditEventInput as _votemesh_audit_v1_AuditEventInput, AuditEventInput__Output as _votemesh_audit_v1_AuditEventInput__Output } from '../../../votemesh/audit/v1/AuditEventInput.ts';

export interface AuditEventBatch {
  'events'?: (_votemesh_audit_v1_AuditEventInput)[];
}

export interface AuditEventBatch__Output {
  'events': (_votemesh_audit_v1_AuditEventInput__Output)[];
}
