import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { GetResultsRequest as _votemesh_tally_v1_GetResultsRequest, GetResultsRequest__Output as _votemesh_tally_v1_GetResultsRequest__Output } from './votemesh/tally/v1/GetResultsRequest.ts';
import type { OptionVotes as _votemesh_tally_v1_OptionVotes, OptionVotes__Output as _votemesh_tally_v1_OptionVotes__Output } from './votemesh/tally/v1/OptionVotes.ts';
import type { PollTally as _votemesh_tally_v1_PollTally, PollTally__Output as _votemesh_tally_v1_PollTally__Output } from './votemesh/tally/v1/PollTally.ts';
import type { TallyServiceClient as _votemesh_tally_v1_TallyServiceClient, TallyServiceDefinition as _votemesh_tally_v1_TallyServiceDefinition } from './votemesh/tally/v1/TallyService.ts';
import type { WatchResultsRequest as _votemesh_tally_v1_WatchResultsRequest, WatchResultsRequest__Output as _votemesh_tally_v1_WatchResultsRequest__Output } from './votemesh/tally/v1/WatchResultsRequest.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  votemesh: {
    tally: {
      v1: {
        GetResultsRequest: MessageTypeDefinition<_votemesh_tally_v1_GetResultsRequest, _votemesh_tally_v1_GetResultsRequest__Output>
        OptionVotes: MessageTypeDefinition<_votemesh_tally_v1_OptionVotes, _votemesh_tally_v1_OptionVotes__Output>
        PollTally: MessageTypeDefinition<_votemesh_tally_v1_PollTally, _votemesh_tally_v1_PollTally__Output>
        TallyService: SubtypeConstructor<typeof grpc.Client, _votemesh_tally_v1_TallyServiceClient> & { service: _votemesh_tally_v1_TallyServiceDefinition }
        WatchResultsRequest: MessageTypeDefinition<_votemesh_tally_v1_WatchResultsRequest, _votemesh_tally_v1_WatchResultsRequest__Output>
      }
    }
  }
}

