/** rocksdb-native ships no typings; StateDb (rocks.ts) declares the part it uses. */
declare module 'rocksdb-native' {
  const RocksDB: unknown
  export default RocksDB
}
