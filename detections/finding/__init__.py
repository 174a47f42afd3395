"""Rules on the findings of AWS's own detectors: GuardDuty, Security Hub, Access Analyzer
and Macie."""
