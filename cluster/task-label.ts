/**
 * Task numbers as the cluster names them: partition numbers, and the global task (docs/cluster.md, "Tasks").
 * Apart from tasks.ts so that modules needing only the names (the HTTP peer endpoints, SUBSCRIBE) do not load
 * the task engines and their Kafka clients in a process that runs no cluster.
 */

/** The global task's number: not a partition. */
export const GLOBAL_TASK = -1

export const taskLabel = (task: number): string => (task === GLOBAL_TASK ? 'global' : String(task))
