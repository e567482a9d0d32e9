export { createKafkaBus, type KafkaBusOptions } from "./kafkajs.js";
export type * from "./types.js";
