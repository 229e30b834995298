// Original file: proto/audit.proto


export interface AuditEventInput {
  'event_id'?: (string);
  'at'?: (string);
  'actor'?: (string);
  'action'?: (string);
  'subject_type'?: (string);
  'subject_id'?: (string);
  'poll_id'?: (string);
  'trace_id'?: (string);
  'data_json'?: (string);
}

export interface AuditEventInput__Output {
  'event_id': (string);
  'at': (string);
  'actor': (string);
  'action': (string);
  'subject_type': (string);
  'subject_id': (string);
  'poll_id': (string);
  'trace_id': (string);
  'data_json': (string);
}
