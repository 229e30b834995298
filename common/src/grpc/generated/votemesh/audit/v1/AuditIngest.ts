// Original file: proto/audit.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AuditEventBatch as _votemesh_audit_v1_AuditEventBatch, AuditEventBatch__Output as _votemesh_audit_v1_AuditEventBatch__Output } from '../../../votemesh/audit/v1/AuditEventBatch.ts';
import type { AuditEventInput as _votemesh_audit_v1_AuditEventInput, AuditEventInput__Output as _votemesh_audit_v1_AuditEventInput__Output } from '../../../votemesh/audit/v1/AuditEventInput.ts';
import type { RecordSummary as _votemesh_audit_v1_RecordSummary, RecordSummary__Output as _votemesh_audit_v1_RecordSummary__Output } from '../../../votemesh/audit/v1/RecordSummary.ts';

export interface AuditIngestClient extends grpc.Client {
  Record(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  Record(metadata: grpc.Metadata, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  Record(options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  Record(callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  record(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  record(metadata: grpc.Metadata, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  record(options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  record(callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventInput>;
  
  RecordBatch(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  RecordBatch(metadata: grpc.Metadata, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  RecordBatch(options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  RecordBatch(callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  recordBatch(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  recordBatch(metadata: grpc.Metadata, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  recordBatch(options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  recordBatch(callback: grpc.requestCallback<_votemesh_audit_v1_RecordSummary__Output>): grpc.ClientWritableStream<_votemesh_audit_v1_AuditEventBatch>;
  
}

export interface AuditIngestHandlers extends grpc.UntypedServiceImplementation {
  Record: grpc.handleClientStreamingCall<_votemesh_audit_v1_AuditEventInput__Output, _votemesh_audit_v1_RecordSummary>;
  
  RecordBatch: grpc.handleClientStreamingCall<_votemesh_audit_v1_AuditEventBatch__Output, _votemesh_audit_v1_RecordSummary>;
  
}

export interface AuditIngestDefinition extends grpc.ServiceDefinition {
  Record: MethodDefinition<_votemesh_audit_v1_AuditEventInput, _votemesh_audit_v1_RecordSummary, _votemesh_audit_v1_AuditEventInput__Output, _votemesh_audit_v1_RecordSummary__Output>
  RecordBatch: MethodDefinition<_votemesh_audit_v1_AuditEventBatch, _votemesh_audit_v1_RecordSummary, _votemesh_audit_v1_AuditEventBatch__Output, _votemesh_audit_v1_RecordSummary__Output>
}
