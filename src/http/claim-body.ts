// The multipart body of one claim submission (`POST /v1/claims`: a `claim` JSON part and one
// `evidence` photo), built in one piece. The server's warm-up sends it to itself
// (warm-up.ts) and the load client of the benchmark sends it (bench/load-process.ts, a
// process of its own: this module loads nothing but Node's Buffer).

export function claimSubmissionBody(boundary: string, claim: unknown, photo: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="claim"\r\n\r\n${JSON.stringify(claim)}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="evidence"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    photo,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}
