import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AuditEventBatch as _votemesh_audit_v1_AuditEventBatch, AuditEventBatch__Output as _votemesh_audit_v1_AuditEventBatch__Output } from './votemesh/audit/v1/AuditEventBatch.ts';
import type { AuditEventInput as _votemesh_audit_v1_AuditEventInput, AuditEventInput__Output as _votemesh_audit_v1_AuditEventInput__Output } from './votemesh/audit/v1/AuditEventInput.ts';
import type { AuditIngestClient as _votemesh_audit_v1_AuditIngestClient, AuditIngestDefinition as _votemesh_audit_v1_AuditIngestDefinition } from './votemesh/audit/v1/AuditIngest.ts';
import type { RecordSummary as _votemesh_audit_v1_RecordSummary, RecordSummary__Output as _votemesh_audit_v1_RecordSummary__Output } from './votemesh/audit/v1/RecordSummary.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  votemesh: {
    audit: {
      v1: {
        AuditEventBatch: MessageTypeDefinition<_votemesh_audit_v1_AuditEventBatch, _votemesh_audit_v1_AuditEventBatch__Output>
        AuditEventInput: MessageTypeDefinition<_votemesh_audit_v1_AuditEventInput, _votemesh_audit_v1_AuditEventInput__Output>
        AuditIngest: SubtypeConstructor<typeof grpc.Client, _votemesh_audit_v1_AuditIngestClient> & { service: _votemesh_audit_v1_AuditIngestDefinition }
        RecordSummary: MessageTypeDefinition<_votemesh_audit_v1_RecordSummary, _votemesh_audit_v1_RecordSummary__Output>
      }
    }
  }
}

