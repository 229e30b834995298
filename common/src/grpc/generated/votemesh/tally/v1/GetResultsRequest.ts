// Original file: proto/tally.proto


export interface GetResultsRequest {
  'poll_id'?: (string);
}

export interface GetResultsRequest__Output {
  'poll_id': (string);
}
