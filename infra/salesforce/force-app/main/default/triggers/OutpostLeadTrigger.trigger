/**
 * Queues Lead changes for Outpost. All logic (and the reason no callout happens here) lives in
 * OutpostSyncTriggerHandler.
 */
trigger OutpostLeadTrigger on Lead(after insert, after update, after delete, after undelete) {
    OutpostSyncTriggerHandler.handle('Lead', Trigger.operationType, Trigger.new, Trigger.oldMap);
}
