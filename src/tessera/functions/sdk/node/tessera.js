"use strict";
/**
 * The Tessera function contract for JavaScript: `require("tessera")`.
 *
 * A handler is `module.exports.handle = async (event, context) => value`:
 * - `event` is the parsed JSON body when the request is JSON, else a Buffer
 *   (null for an empty body);
 * - a returned Buffer/Uint8Array is sent as application/octet-stream, a string as
 *   text/plain, null/undefined as 204, anything else as JSON;
 * - `new Response(body, {status, headers})` sets the status and headers too;
 * - a thrown error is an HTTP 500 whose body is "Name: message" (`err.name`).
 * Optional `start(config)` runs once per instance, `stop()` when it stops.
 */

class Response {
  /**
   * @param {*} body what a handler could return by itself (Buffer, string, JSON-able)
   * @param {{status?: number, headers?: Object<string, string>}} [options]
   */
  constructor(body = Buffer.alloc(0), { status = 200, headers = {} } = {}) {
    this.body = body;
    this.status = status;
    this.headers = { ...headers };
  }
}

module.exports = { Response };
