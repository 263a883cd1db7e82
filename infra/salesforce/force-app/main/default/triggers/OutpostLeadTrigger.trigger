/**
 * Publishes Lead changes for Outpost as Outpost_Sync__e events. All logic, and why it neither calls
 * out nor enqueues, lives in OutpostSyncTriggerHandler.
 */
trigger OutpostLeadTrigger on Lead(after insert, after update, after delete, after undelete) {
    OutpostSyncTriggerHandler.handle('Lead', Trigger.operationType, Trigger.new, Trigger.oldMap);
}
