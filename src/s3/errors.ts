// The S3 error table: every error a client sees is one of these codes, with the
// HTTP status AWS S3 uses for it. Modules throw S3Error; the server renders it.

const STATUS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  ConditionalRequestConflict: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  ExpiredToken: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartNumber: 416,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidStorageClass: 400,
  InvalidURI: 400,
  KeyTooLongError: 400,
  MalformedTrailerError: 400,
  MalformedXML: 400,
  MaxMessageLengthExceeded: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  // bucket configuration that does not exist (unconfigured buckets)
  NoSuchBucketPolicy: 404,
  NoSuchCORSConfiguration: 404,
  NoSuchLifecycleConfiguration: 404,
  NoSuchTagSet: 404,
  ServerSideEncryptionConfigurationNotFoundError: 404,
  ObjectLockConfigurationNotFoundError: 404,
  OwnershipControlsNotFoundError: 404,
  NoSuchPublicAccessBlockConfiguration: 404,
  NoSuchWebsiteConfiguration: 404,
  ReplicationConfigurationNotFoundError: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  RequestHeaderSectionTooLarge: 400,
  RequestTimeout: 400,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
  // MinIO's code for a full drive; AWS has none (its disks never fill)
  XMinioStorageFull: 507,
  InvalidChunkSizeError: 403,
  IllegalLocationConstraintException: 400,
  InvalidLocationConstraint: 400,
  TooManyParts: 400,
  // CORS preflight answers (OPTIONS without an Origin, or no rule matching)
  BadRequest: 400,
  AccessForbidden: 403,
} as const satisfies Record<string, number>;

/** Only a code in the table compiles: a misspelt code is a type error, not a 400 with a made-up name. */
export type S3ErrorCode = keyof typeof STATUS;

export class S3Error extends Error {
  readonly code: S3ErrorCode;
  readonly status: number;
  /** Extra elements for the error XML (e.g. BucketName, Key, ActualObjectSize). */
  readonly details: Record<string, string>;
  /** Extra response headers (e.g. ETag on 304, Content-Range on 416). */
  readonly headers: Record<string, string>;

  /** `status` only where S3 answers one code with several statuses (AuthorizationQueryParametersError). */
  constructor(code: S3ErrorCode, message: string, details: Record<string, string> = {}, headers: Record<string, string> = {}, status?: number) {
    super(message);
    this.name = "S3Error";
    this.code = code;
    this.status = status ?? STATUS[code];
    this.details = details;
    this.headers = headers;
  }
}

/** Is `code` one of the table's codes (e.g. one an upstream S3 answered)? */
export function isS3ErrorCode(code: string | undefined): code is S3ErrorCode {
  return code !== undefined && Object.hasOwn(STATUS, code);
}

export function isS3Error(error: unknown): error is S3Error {
  return error instanceof S3Error;
}

export const errors = {
  noSuchBucket: (bucket: string) => new S3Error("NoSuchBucket", "The specified bucket does not exist", { BucketName: bucket }),
  noSuchKey: (key: string) => new S3Error("NoSuchKey", "The specified key does not exist.", { Key: key }),
  noSuchUpload: (uploadId: string) =>
    new S3Error("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", { UploadId: uploadId }),
  notImplemented: (what: string) => new S3Error("NotImplemented", `${what} is not implemented by s3-overlay`),
  invalidArgument: (message: string, name?: string, value?: string) =>
    new S3Error("InvalidArgument", message, name === undefined ? {} : { ArgumentName: name, ArgumentValue: value ?? "" }),
  malformedXml: () => new S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."),
  preconditionFailed: (condition: string) => new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: condition }),
  internal: () => new S3Error("InternalError", "We encountered an internal error. Please try again."),
  storageFull: () =>
    new S3Error("XMinioStorageFull", "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed."),
};
