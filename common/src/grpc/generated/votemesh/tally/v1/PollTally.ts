// Original file: proto/tally.proto

import type { OptionVotes as _votemesh_tally_v1_OptionVotes, OptionVotes__Output as _votemesh_tally_v1_OptionVotes__Output } from '../../../votemesh/tally/v1/OptionVotes.ts';
import type { Long } from '@grpc/proto-loader';

export interface PollTally {
  'poll_id'?: (string);
  'version'?: (number | string | Long);
  'total_votes'?: (number | string | Long);
  'options'?: (_votemesh_tally_v1_OptionVotes)[];
  'votes_per_second'?: (number | string);
  'updated_at'?: (string);
  'committed_at_ms'?: (number | string | Long);
  'traceparent'?: (string);
}

export interface PollTally__Output {
  'poll_id': (string);
  'version': (string);
  'total_votes': (string);
  'options': (_votemesh_tally_v1_OptionVotes__Output)[];
  'votes_per_second': (number);
  'updated_at': (string);
  'committed_at_ms': (string);
  'traceparent': (string);
}
