// Original file: proto/tally.proto

import type { Long } from '@grpc/proto-loader';

export interface OptionVotes {
  'option_id'?: (string);
  'votes'?: (number | string | Long);
}

export interface OptionVotes__Output {
  'option_id': (string);
  'votes': (string);
}
