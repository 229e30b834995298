// Original file: proto/tally.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetResultsRequest as _votemesh_tally_v1_GetResultsRequest, GetResultsRequest__Output as _votemesh_tally_v1_GetResultsRequest__Output } from '../../../votemesh/tally/v1/GetResultsRequest.ts';
import type { PollTally as _votemesh_tally_v1_PollTally, PollTally__Output as _votemesh_tally_v1_PollTally__Output } from '../../../votemesh/tally/v1/PollTally.ts';
import type { WatchResultsRequest as _votemesh_tally_v1_WatchResultsRequest, WatchResultsRequest__Output as _votemesh_tally_v1_WatchResultsRequest__Output } from '../../../votemesh/tally/v1/WatchResultsRequest.ts';

export interface TallyServiceClient extends grpc.Client {
  GetResults(argument: _votemesh_tally_v1_GetResultsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  GetResults(argument: _votemesh_tally_v1_GetResultsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  GetResults(argument: _votemesh_tally_v1_GetResultsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  GetResults(argument: _votemesh_tally_v1_GetResultsRequest, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  getResults(argument: _votemesh_tally_v1_GetResultsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  getResults(argument: _votemesh_tally_v1_GetResultsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  getResults(argument: _votemesh_tally_v1_GetResultsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  getResults(argument: _votemesh_tally_v1_GetResultsRequest, callback: grpc.requestCallback<_votemesh_tally_v1_PollTally__Output>): grpc.ClientUnaryCall;
  
  WatchResults(argument: _votemesh_tally_v1_WatchResultsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_votemesh_tally_v1_PollTally__Output>;
  WatchResults(argument: _votemesh_tally_v1_WatchResultsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_votemesh_tally_v1_PollTally__Output>;
  watchResults(argument: _votemesh_tally_v1_WatchResultsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_votemesh_tally_v1_PollTally__Output>;
  watchResults(argument: _votemesh_tally_v1_WatchResultsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_votemesh_tally_v1_PollTally__Output>;
  
}

export interface TallyServiceHandlers extends grpc.UntypedServiceImplementation {
  GetResults: grpc.handleUnaryCall<_votemesh_tally_v1_GetResultsRequest__Output, _votemesh_tally_v1_PollTally>;
  
  WatchResults: grpc.handleServerStreamingCall<_votemesh_tally_v1_WatchResultsRequest__Output, _votemesh_tally_v1_PollTally>;
  
}

export interface TallyServiceDefinition extends grpc.ServiceDefinition {
  GetResults: MethodDefinition<_votemesh_tally_v1_GetResultsRequest, _votemesh_tally_v1_PollTally, _votemesh_tally_v1_GetResultsRequest__Output, _votemesh_tally_v1_PollTally__Output>
  WatchResults: MethodDefinition<_votemesh_tally_v1_WatchResultsRequest, _votemesh_tally_v1_PollTally, _votemesh_tally_v1_WatchResultsRequest__Output, _votemesh_tally_v1_PollTally__Output>
}
