// Original file: proto/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface RecordSummary {
  'accepted'?: (number | string | Long);
  'duplicates'?: (number | string | Long);
  'last_seq'?: (number | string | Long);
}

export interface RecordSummary__Output {
  'accepted': (string);
  'duplicates': (string);
  'last_seq': (string);
}
