"use strict";
// Example function in JavaScript: word counts of a text (JSON {"text": ...} or a plain body).
const { Response } = require("tessera");

let stopWords = new Set();

module.exports.start = async (config) => {
  stopWords = new Set(config.stop_words || ["a", "an", "the", "and", "of"]);
};

module.exports.handle = async (event, context) => {
  const text = Buffer.isBuffer(event) ? event.toString("utf8") : event?.text;
  if (typeof text !== "string") {
    return new Response({ error: "send {\"text\": \"...\"} or a text body" }, { status: 400 });
  }
  const counts = {};
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}']+/gu) || []) {
    if (!stopWords.has(word)) counts[word] = (counts[word] || 0) + 1;
  }
  const top = Object.entries(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  context.logger.info(`counted ${top.length} distinct words`);
  return { words: top.length, top: top.slice(0, 10), function: context.function };
};
