/**
 * Whether a stream's log is a Kafka topic's (connectors/kafka-source.ts), told without loading the Kafka
 * client: the engine loads kafka-source.ts only when it deploys a Kafka stream, so an embedded server that
 * reads no Kafka topic never pays for the client's import (a good part of a start's CPU time).
 */
import type { KafkaSource } from './kafka-source.ts'
import type { StreamSource } from '../source.ts'

export const isKafkaLog = (log: StreamSource | undefined): log is KafkaSource => (log as { readonly kafkaTopic?: string } | undefined)?.kafkaTopic !== undefined
