// Original file: proto/tally.proto


export interface WatchResultsRequest {
  'poll_id'?: (string);
  'send_initial'?: (boolean);
}

export interface WatchResultsRequest__Output {
  'poll_id': (string);
  'send_initial': (boolean);
}
